"""Sends the messages owed to users (the `notices` outbox) at a pace Telegram accepts.

Crediting writes a notice in its own transaction and moves on; this loop delivers
it: at most about 25 messages a second overall and one a second per chat (the FAQ
limits are 30/s and 1/s). A notice is marked sent only after Telegram accepted it,
so a crash or an outage delays a confirmation but does not lose it.

Nothing one chat does holds up another's messages: a chat that must wait (its one
message a second, or Telegram's `429 retry after N` for it) is left out of the passes
until then, and its notice is due again after the wait; the rest go on. A message
Telegram will never deliver (403: the user blocked the bot; 400: a chat the bot
cannot see, or a message it refuses) is given up at once, counted by outcome
(`blocked`, `undeliverable`) and logged without its text. Other failures are retried
with a growing delay, up to MAX_ATTEMPTS.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter

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
        # Chats that may not be sent to before a moment (monotonic): their pace, or
        # Telegram's flood wait for them.
        self._waiting: dict[int, float] = {}

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
                        async with asyncio.timeout(self._until_next(idle)):
                            await self._wake.wait()
        finally:
            # A process that no longer sends reports nothing owed, as one that never
            # did: the alert rules take the max over processes, i.e. the sender's view.
            metrics.NOTICES_PENDING.set(0)
            metrics.NOTICES_OLDEST_PENDING.set(0)

    def _until_next(self, idle: float) -> float:
        """How long an idle loop waits: `idle`, or less when a waiting chat's turn
        comes sooner (its notice is due by then)."""
        if not self._waiting:
            return idle
        return max(0.0, min(idle, min(self._waiting.values()) - time.monotonic()))

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
        """Send what is due to every chat that need not wait; True if any was handled."""
        now = time.monotonic()
        self._waiting = {chat: at for chat, at in self._waiting.items() if at > now}
        due = await due_notices(batch, exclude=self._waiting.keys())
        handled = False
        for notice in due:
            if self._waiting.get(notice.user_id, 0.0) > time.monotonic():
                continue  # its chat's turn comes later: a later pass
            await self._pace()
            await self._deliver(notice)
            handled = True
        return handled

    async def _pace(self) -> None:
        wait = self._last_global + self.interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_global = time.monotonic()

    def _hold(self, chat_id: int, seconds: float) -> None:
        if seconds > 0:
            self._waiting[chat_id] = max(
                self._waiting.get(chat_id, 0.0), time.monotonic() + seconds
            )

    async def _deliver(self, notice: DueNotice) -> None:
        body = text(
            notice.language_code, notice.kind.value, amount=notice.amount, balance=notice.balance
        )
        fields = {"notice_id": notice.id, "user_id": notice.user_id, "kind": notice.kind}
        self._hold(notice.user_id, self.per_chat_interval)
        try:
            await self.bot.send_message(notice.user_id, body)
        except TelegramRetryAfter as error:
            # Telegram's wait for this chat: this one and its later ones go after it,
            # everyone else's now.
            metrics.NOTICES.labels("flood_wait").inc()
            log.warning("notice.flood_wait", retry_after=error.retry_after, **fields)
            self._hold(notice.user_id, error.retry_after)
            await self._reschedule(notice, error.retry_after, count_attempt=False)
            return
        except (TelegramForbiddenError, TelegramBadRequest) as error:
            # Telegram will never deliver it (blocked, no such chat, refused): trying
            # again would only cost a request a while. Never the text in the log.
            blocked = isinstance(error, TelegramForbiddenError)
            metrics.NOTICES.labels("blocked" if blocked else "undeliverable").inc()
            (log.info if blocked else log.warning)(
                "notice.given_up", error=error.message, **fields
            )
            await mark_sent(notice.id)
            return
        except Exception as error:
            metrics.NOTICES.labels("retried").inc()
            delay = min(2**notice.attempts, 600)
            log.warning("notice.send_failed", error=repr(error), retry_in=delay, **fields)
            await self._reschedule(notice, delay)
            return
        await mark_sent(notice.id)
        metrics.NOTICES.labels("sent").inc()
        log.info("notice.sent", **fields)

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
