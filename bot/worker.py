"""The worker's life: migrate, connect, prepare the bot, poll, and stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import (
    TelegramConflictError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import BotCommand
from aiohttp import web

from bot.dispatcher import ALLOWED_UPDATES, create_dispatcher
from bot.events import EventSender
from bot.gifts import GiftSender
from bot.housekeeping import Housekeeping
from bot.lanes import Lanes
from bot.leadership import Leadership, LeaseGate, LeaseTimes
from bot.middlewares import ProfileCache, RunningHandlers
from bot.notifier import Notifier
from bot.own_stars import watch_own_balance
from bot.reconcile import JOB as RECONCILE_JOB
from bot.reconcile import Reconciler
from bot.texts import COMMANDS
from bot.throttle import Throttle
from models.events.outbox import switch_events
from models.infra import metrics
from models.infra.db import apply_migrations, close_database, open_database
from models.infra.leases import free_if_held_by
from models.infra.loop import freeze_heap
from models.infra.settings import Settings
from models.infra.startup import EXIT_CONFIGURATION, TOKEN_REJECTED, StartupError
from models.infra.telegram import make_bot

log = structlog.get_logger("bot.worker")
POLLING_TIMEOUT = 25
DRAIN_TIMEOUT = 30.0
# Handlers running at once, per lane (bot/lanes.py), and the commands held in memory
# before polling pauses: about 20 KB each, so at most about 100 MB. Payments run as
# many at once as there are connections to Telegram (TELEGRAM_CONNECTIONS): a payment
# handler spends most of its time waiting for Telegram on one, so with Telegram 150 ms
# away a fixed 100 held a burst of pre-checkouts to ~650 answers a second.
COMMAND_CONCURRENCY = 50
COMMAND_BACKLOG = 5_000
# One request to the admins per user in this window: /paysupport forwards whatever
# follows it, and nobody should be able to flood the admins' chats.
SUPPORT_WINDOW = 300.0
# Names the reconciliation lease while a leading worker holds it.
LEADER_PREFIX = "leader:"


class PollingWatch(BaseRequestMiddleware):
    """Records each successful poll, and says why when getUpdates gets a 409: aiogram
    itself retries it forever with a plain error line."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            response = await make_request(bot, method)
        except TelegramConflictError as error:
            if isinstance(method, GetUpdates):
                log.critical(
                    "polling.conflict",
                    error=error.message,
                    hint="another process is polling this bot token, or a webhook is set; "
                    "workers take turns only when they share one DATABASE_URL",
                )
            raise
        if isinstance(method, GetUpdates):
            metrics.LAST_POLL.set(time.time())
        return response


@contextlib.asynccontextmanager
async def metrics_server(host: str, port: int | None) -> AsyncIterator[None]:
    """Serve /metrics on its own port when one is configured (off by default)."""
    if port is None:
        yield
        return
    app = web.Application()
    app.router.add_get("/metrics", metrics.serve)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("metrics.serving", host=host, port=port)
    try:
        yield
    finally:
        await runner.cleanup()


async def until_done(call: Callable[[], Awaitable[Any]], what: str, stop: asyncio.Event) -> bool:
    """Retry a start-up call while Telegram is unreachable; False if told to stop."""
    delay = 1.0
    while not stop.is_set():
        try:
            await call()
            return True
        except TelegramRetryAfter as error:
            wait = float(error.retry_after)
        except TelegramUnauthorizedError:
            # A rejected token stays rejected: retrying it would look alive and do nothing.
            raise StartupError(TOKEN_REJECTED, EXIT_CONFIGURATION) from None
        except Exception as error:
            log.warning("startup.retrying", call=what, error=repr(error))
            wait = delay
            delay = min(delay * 2, 30.0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await stop.wait()
    return False


async def prepare_bot(bot: Bot, stop: asyncio.Event) -> bool:
    async def set_commands() -> None:
        for lang, commands in COMMANDS.items():
            items = [BotCommand(command=c, description=d) for c, d in commands]
            await bot.set_my_commands(items, language_code=lang)
        await bot.set_my_commands(
            [BotCommand(command=c, description=d) for c, d in COMMANDS["en"]]
        )

    return (
        await until_done(bot.me, "getMe", stop)
        # Pending updates may be payments: never drop them.
        and await until_done(
            lambda: bot.delete_webhook(drop_pending_updates=False), "deleteWebhook", stop
        )
        and await until_done(set_commands, "setMyCommands", stop)
    )


class Worker:
    """The bot worker's moving parts, run until `stop` is set.

    The database must be open; `run_worker` does that for the real process, tests
    do it themselves and run the same object in-process.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        bot: Bot | None = None,
        polling_timeout: int = POLLING_TIMEOUT,
        notifier: Notifier | None = None,
        leadership: Leadership | None = None,
        events: EventSender | None = None,
    ) -> None:
        self.settings = settings
        self.bot = bot or make_bot(settings)
        self.lanes = Lanes(
            payments=settings.telegram_connections,
            commands=COMMAND_CONCURRENCY,
            backlog=COMMAND_BACKLOG,
        )
        self.duties: list[asyncio.Task[Any]] = []
        self.running = RunningHandlers()
        self.profiles = ProfileCache()
        self.notifier = notifier or Notifier(self.bot)
        self.events = events or EventSender.from_settings(settings)
        self.dispatcher = create_dispatcher(
            settings,
            notifier=self.notifier,
            running=self.running,
            profiles=self.profiles,
            lanes=self.lanes,
            support_throttle=Throttle(SUPPORT_WINDOW),
        )
        self.polling_timeout = polling_timeout
        self.leadership = leadership or Leadership(LeaseTimes(settings.leader_lease))
        self.reconciler = Reconciler(self.bot, holder=LEADER_PREFIX + self.leadership.holder)
        self.housekeeping = Housekeeping(self.bot, settings, holder=self.leadership.holder)
        self.gifts = GiftSender.from_settings(self.bot, settings)
        self.bot.session.middleware(PollingWatch())
        # Last, so it runs next to the wire.
        self.bot.session.middleware(LeaseGate(self.leadership))

    async def run(self, stop: asyncio.Event) -> None:
        try:
            if not await prepare_bot(self.bot, stop):
                return
            while await self.leadership.acquire(stop):
                await self._lead(stop)
        finally:
            # Handlers in flight may be crediting a payment: let them finish before
            # the caller closes the database.
            self.lanes.close()
            left = await self.running.drain(DRAIN_TIMEOUT)
            if self.lanes.skipped:
                log.warning("shutdown.commands_skipped", count=self.lanes.skipped)
            if left:
                log.error("shutdown.handlers_abandoned", count=left)
            self.profiles.cancel()
            await self._stop_duties(timeout=2.0)  # only ones stuck on the database
            await self.leadership.close()
            await self.bot.session.close()

    def _start_duties(self) -> None:
        """The loops that talk to users and to Telegram's ledger: the leader's alone."""
        self.duties += [
            asyncio.create_task(self.notifier.run(), name="notifier"),
            asyncio.create_task(
                self.events.run() if self.events else self._events_off(), name="events"
            ),
            asyncio.create_task(self._reconcile(), name="reconciler"),
            asyncio.create_task(self.gifts.run(), name="gifts"),
            asyncio.create_task(
                watch_own_balance(self.bot, self.settings.reconcile_interval),
                name="own-stars",
            ),
            # Retention and the daily digest: the leader's alone, like the rest.
            asyncio.create_task(self.housekeeping.run(), name="housekeeping"),
        ]

    async def _events_off(self) -> None:
        """A leader without EVENTS_URL turns balance events off for every process (the
        sender turns them on). Only the leader decides: a standby started without the
        setting must not stop the events its leader is sending."""
        try:
            await switch_events(False)
        except Exception as error:  # the next leadership term tries again
            log.warning("events.switch_off_failed", error=repr(error))

    async def _reconcile(self) -> None:
        # A leader killed in the middle of a pass left the reconciliation lease behind,
        # and it lasts minutes; only the leader reconciles, so a worker holding it is gone
        # (or fenced, its pass cancelled). `run_bot.py reconcile` holds it under another name.
        try:
            if await free_if_held_by(RECONCILE_JOB, LEADER_PREFIX):
                log.info("reconcile.lease_taken_over")
        except Exception as error:  # the pass itself retries; so will the next leader
            log.warning("reconcile.lease_takeover_failed", error=repr(error))
        await self.reconciler.run_forever(self.settings.reconcile_interval)

    async def _stop_duties(self, timeout: float) -> None:
        """Cancel the loops; one stuck on a hung database is left behind, not waited for."""
        for task in self.duties:
            task.cancel()
        if self.duties:
            await asyncio.wait(self.duties, timeout=timeout)
        self.duties = [task for task in self.duties if not task.done()]

    async def _lead(self, stop: asyncio.Event) -> None:
        """Poll and run the duties while the lease is ours; then stop polling, and give
        the lease back unless it was lost."""
        self._start_duties()
        polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.bot,
                allowed_updates=ALLOWED_UPDATES,
                polling_timeout=self.polling_timeout,
                handle_signals=False,
                close_bot_session=False,
                # No tasks_concurrency_limit: the lanes bound concurrency instead.
            ),
            name="polling",
        )
        keeper = asyncio.create_task(self.leadership.keep(), name="lease")
        stopper = asyncio.create_task(stop.wait())
        metrics.WORKER_LEADER.set(1)
        try:
            await asyncio.wait([polling, keeper, stopper], return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                log.info("worker.stopping")
            await self._stop_polling(polling)
        finally:
            metrics.WORKER_LEADER.set(0)
            lost = keeper.done() and not keeper.cancelled()
            keeper.cancel()
            stopper.cancel()
            await self._stop_duties(timeout=1.0)
            if not lost:
                await self.leadership.release()
        await polling  # a polling loop that failed on its own fails the worker

    async def _stop_polling(self, polling: asyncio.Task[None]) -> None:
        """Stop polling, cancelling the long poll in flight. `stop_polling` does nothing
        to a run that has not started yet, so it is repeated until the run has ended."""
        while not polling.done():
            await self.dispatcher.stop_polling()
            await asyncio.wait({polling}, timeout=0.05)


async def run_worker(settings: Settings) -> None:
    applied = await apply_migrations(settings.migration_url)
    log.info("database.migrated", applied=applied)
    # Hundreds of updates may be handled at once (both lanes), most of them waiting on
    # Telegram rather than the database; 20 connections keep them from queueing long for
    # one while staying well under PostgreSQL's default of 100.
    await open_database(settings.database_url, pool_size=20)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    freeze_heap()
    try:
        async with metrics_server(settings.bot_metrics_host, settings.bot_metrics_port):
            await Worker(settings).run(stop)
    finally:
        await close_database()
        log.info("worker.stopped")
