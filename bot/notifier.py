"""Sends the messages owed to users (the `notices` outbox) at a pace Telegram accepts.

Crediting writes a notice in its own transaction and moves on; this loop delivers
it: at most about 25 messages a second overall and one a second per chat (the FAQ
limits are 30/s and 1/s), waiting `retry_after` on a 429 and backing off on other
errors. A notice is marked sent only after Telegram accepted it, so a crash or an
outage delays a confirmation but does not lose it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter

from bot.texts import text
from models.infra import metrics
from models.notices import DueNotice, backlog, due_notices, mark_sent, reschedule
from models.values import utcnow

log = structlog.get_logger("bot.notifier")
MAX_ATTEMPTS = 12


class Notifier:
    def __init__(
        self,
        bot: Bot,
        *,
        per_second: float = 25.0,
        per_chat_interval: float = 1.0,
        measure_interval: float = 10.0,
    ) -> None:
        self.bot = bot
        self.interval = 1.0 / per_second
        self.per_chat_interval = per_chat_interval
        self.measure_interval = measure_interval
        self._measured_at: float | None = None
        self._wake = asyncio.Event()
        self._last_global = 0.0
        self._last_chat: dict[int, float] = {}

    def wake(self) -> None:
        self._wake.set()

    async def run(self, idle: float = 2.0) -> None:
        try:
            while True:
                try:
                    await self._measure_now_and_then()
                    sent_any = await self.deliver_due()
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # database away: try again later
                    log.warning("notifier.pass_failed", error=repr(error))
                    sent_any = False
                if not sent_any:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
                        # cancellation that lands as the event is set, and shutdown hangs.
                        async with asyncio.timeout(idle):
                            await self._wake.wait()
        finally:
            # A process that no longer sends reports nothing owed, as one that never
            # did: the alert rules take the max over processes, i.e. the sender's view.
            metrics.NOTICES_PENDING.set(0)
            metrics.NOTICES_OLDEST_PENDING.set(0)

    async def _measure_now_and_then(self) -> None:
        now = time.monotonic()
        if self._measured_at is None or now - self._measured_at >= self.measure_interval:
            self._measured_at = now
            await self.measure_backlog()

    async def measure_backlog(self) -> None:
        """Notices not sent yet (due or waiting for a retry) and the age of the oldest,
        for the alert rules: one aggregate read."""
        pending, oldest = await backlog()
        age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
        metrics.NOTICES_PENDING.set(pending)
        metrics.NOTICES_OLDEST_PENDING.set(max(age, 0.0))

    async def deliver_due(self, batch: int = 100) -> bool:
        due = await due_notices(batch)
        for notice in due:
            await self._deliver(notice)
        return bool(due)

    async def _pace(self, chat_id: int) -> None:
        now = time.monotonic()
        wait = max(
            self._last_global + self.interval - now,
            self._last_chat.get(chat_id, 0.0) + self.per_chat_interval - now,
        )
        if wait > 0:
            await asyncio.sleep(wait)
        now = time.monotonic()
        self._last_global = now
        self._last_chat[chat_id] = now
        if len(self._last_chat) > 10_000:
            self._last_chat = {k: v for k, v in self._last_chat.items() if now - v < 5}

    async def _deliver(self, notice: DueNotice) -> None:
        body = text(
            notice.language_code, notice.kind.value, amount=notice.amount, balance=notice.balance
        )
        await self._pace(notice.user_id)
        try:
            await self.bot.send_message(notice.user_id, body)
        except TelegramRetryAfter as error:
            # A flood wait applies to the whole bot: hold everything, then resend.
            metrics.NOTICES.labels("flood_wait").inc()
            log.warning("notice.flood_wait", retry_after=error.retry_after)
            await self._reschedule(notice, error.retry_after, count_attempt=False)
            await asyncio.sleep(error.retry_after)
            return
        except TelegramForbiddenError:
            metrics.NOTICES.labels("blocked").inc()
            log.info("notice.user_blocked_bot", notice_id=notice.id)
            await mark_sent(notice.id)
            return
        except Exception as error:
            metrics.NOTICES.labels("retried").inc()
            delay = min(2**notice.attempts, 600)
            log.warning(
                "notice.send_failed", notice_id=notice.id, error=repr(error), retry_in=delay
            )
            await self._reschedule(notice, delay)
            return
        await mark_sent(notice.id)
        metrics.NOTICES.labels("sent").inc()
        log.info("notice.sent", notice_id=notice.id, kind=notice.kind, user_id=notice.user_id)

    async def _reschedule(
        self, notice: DueNotice, delay: float, count_attempt: bool = True
    ) -> None:
        attempts = notice.attempts + 1 if count_attempt else notice.attempts
        abandoned = attempts >= MAX_ATTEMPTS
        if abandoned:
            metrics.NOTICES.labels("abandoned").inc()
            log.error("notice.abandoned", notice_id=notice.id, attempts=attempts)
        await reschedule(
            notice.id, attempts, utcnow() + timedelta(seconds=delay), abandoned=abandoned
        )
