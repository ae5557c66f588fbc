"""Sending gift and Premium purchases from the outbox, and settling the ones whose
outcome Telegram did not tell: the leading worker's duty, the one place that calls
sendGift and giftPremiumSubscription.

The rules are the core's (models.gifts): a purchase is claimed (its attempt marked
begun and committed) before the call, so no process calls twice for one purchase,
whether a standby took over meanwhile or not; only a 429 gives the attempt back. A
definite refusal fails it and gives the Stars back at once; anything else (a time-out,
a reset, a 5xx, a cancelled call when leadership is lost, a crash) leaves it to the
settling pass, which reads getStarTransactions and applies `models.gifts.rules.settle`.
A new leader finds what its predecessor left: purchases never claimed are sent, claimed
ones are settled. None is stranded and none is sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GiftPremiumSubscription, SendGift
from tortoise.exceptions import IntegrityError

from bot.transactions import GetStarTransactionsRaw
from models.gifts.rules import (
    CLOCK_SLACK,
    IN_FLIGHT_MARGIN,
    Outcome,
    PurchaseRow,
    outcome_of,
    purchase_row,
    settle,
)
from models.gifts.store import (
    NOT_IN_LEDGER,
    GiftRecord,
    attach_row,
    claim_due,
    fail,
    failed_lately,
    flood_wait,
    mark_sent,
    note_late_row,
    taken_rows,
    unsettled,
)
from models.infra import metrics
from models.infra.settings import Settings
from models.kinds import GiftKind, GiftState
from models.reconciliation.transactions import PAGE
from models.values import utcnow

log = structlog.get_logger("bot.gifts")
LATE_LOOK_EVERY = 60.0
# aiogram's error classes by the HTTP status each stands for.
_STATUS = {
    "TelegramBadRequest": 400,
    "TelegramUnauthorizedError": 401,
    "TelegramForbiddenError": 403,
    "TelegramNotFound": 404,
    "TelegramConflictError": 409,
    "TelegramEntityTooLarge": 413,
    "TelegramRetryAfter": 429,
    "TelegramMigrateToChat": 400,
}


def status_of(error: BaseException) -> int | None:
    """The HTTP status Telegram answered with, or None when no answer came."""
    if isinstance(error, TelegramServerError):
        return 500
    if isinstance(error, TelegramAPIError):
        return _STATUS.get(type(error).__name__)
    return None


def purchase_call(gift: GiftRecord) -> SendGift | GiftPremiumSubscription:
    if gift.item.kind is GiftKind.PREMIUM:
        assert gift.to.user_id is not None
        assert gift.item.months is not None
        return GiftPremiumSubscription(
            user_id=gift.to.user_id,
            month_count=gift.item.months,
            star_count=gift.star_count,
            text=gift.text,
        )
    assert gift.item.gift_id is not None
    return SendGift(
        gift_id=gift.item.gift_id,
        user_id=gift.to.user_id,
        chat_id=gift.to.chat_id,
        pay_for_upgrade=gift.pay_for_upgrade or None,
        text=gift.text,
    )


async def read_purchase_rows(bot: Bot, max_pages: int) -> list[PurchaseRow]:
    """Every outgoing purchase in the bot's Stars ledger (read raw: aiogram refuses a
    page with a partner type it does not know)."""
    rows: list[PurchaseRow] = []
    offset = 0
    for _ in range(max_pages):
        answer = await bot(GetStarTransactionsRaw(offset=offset, limit=PAGE))
        items = answer.get("transactions")
        if not isinstance(items, list):
            raise ValueError("getStarTransactions answered without a transaction list")
        rows.extend(row for row in map(purchase_row, items) if row is not None)
        offset += len(items)
        if len(items) < PAGE:
            return rows
    log.warning("gifts.page_cap_reached", pages=max_pages)
    return rows


class GiftSender:
    def __init__(
        self,
        bot: Bot,
        *,
        window: timedelta,
        call_timeout: float,
        poll_every: float = 0.2,
        settle_every: float = 5.0,
        concurrency: int = 8,
        max_pages: int = 1000,
        margin: float = IN_FLIGHT_MARGIN,
    ) -> None:
        self.bot = bot
        self.window = window
        self.call_timeout = call_timeout
        self.poll_every = poll_every
        self.settle_every = settle_every
        self.concurrency = concurrency
        self.max_pages = max_pages
        self.margin = margin
        self._calls: set[asyncio.Task[Outcome]] = set()
        self._next_late_look = 0.0

    @classmethod
    def from_settings(cls, bot: Bot, settings: Settings) -> GiftSender:
        return cls(
            bot,
            window=timedelta(minutes=settings.gift_settling_minutes),
            call_timeout=settings.gift_call_timeout,
        )

    @property
    def in_flight(self) -> timedelta:
        return timedelta(seconds=self.call_timeout + self.margin)

    async def run(self) -> None:
        """Send what is due, settle every `settle_every` seconds; until cancelled (the
        calls in flight are cancelled with it: their outcomes are settled later)."""
        loop = asyncio.get_running_loop()
        next_settle = loop.time()
        try:
            while True:
                try:
                    await self.send_due()
                    if loop.time() >= next_settle:
                        next_settle = loop.time() + self.settle_every
                        await self.settle_pass()
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    log.error("gifts.pass_failed", error=repr(error))
                await asyncio.sleep(self.poll_every)
        finally:
            for task in self._calls:
                task.cancel()

    async def send_due(self) -> int:
        """Claim and call for what is due; returns how many calls began."""
        room = self.concurrency - len(self._calls)
        if room <= 0:
            return 0
        claimed = await claim_due(utcnow(), room)
        for gift in claimed:
            task = asyncio.create_task(self.send(gift), name=f"gift-{gift.id}")
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
        return len(claimed)

    async def wait_calls(self) -> None:
        """For tests and a clean stop: the calls in flight, finished."""
        if self._calls:
            await asyncio.wait(set(self._calls))

    def call_budget(self, gift: GiftRecord) -> float | None:
        """How long the call for this claim may take, or None when it must not be made.

        The settling pass treats an attempt as off the wire once `in_flight` has passed
        since it began (and may fail it, the Stars back, when no row is found). A
        process paused between the claim and the call (a stopped VM, a long GC, a
        blocked loop) would otherwise call late: the gift sent after its Stars went
        back. So an attempt older than half of `in_flight` is not called at all, and a
        younger one's call is cut off by the time `in_flight` runs out."""
        assert gift.attempt_started_at is not None
        age = (utcnow() - gift.attempt_started_at).total_seconds()
        limit = self.in_flight.total_seconds()
        if age > limit / 2:
            return None
        return min(self.call_timeout, limit - age)

    async def send(self, gift: GiftRecord) -> Outcome:
        """One call for one claimed purchase, and what its answer settles."""
        budget = self.call_budget(gift)
        if budget is None:
            metrics.GIFT_UNKNOWN_OUTCOMES.inc()
            log.warning(
                "gifts.stale_claim",
                gift_id=str(gift.id),
                attempt_started_at=str(gift.attempt_started_at),
                hint="claimed too long ago to call safely; not called, settled from "
                "getStarTransactions (failed with the Stars back when no row appears)",
            )
            return Outcome.UNKNOWN
        try:
            # aiogram takes whole seconds and reads 0 as no time-out at all: at least
            # 1 for it, and the budget itself (to the millisecond) enforced around it.
            async with asyncio.timeout(budget):
                await self.bot(purchase_call(gift), request_timeout=max(1, math.ceil(budget)))
        except TelegramRetryAfter as error:
            until = utcnow() + timedelta(seconds=error.retry_after)
            await flood_wait(gift, until)
            log.info("gifts.flood_wait", gift_id=str(gift.id), retry_after=error.retry_after)
            return Outcome.FLOOD_WAIT
        except asyncio.CancelledError:
            self._unknown(gift, "cancelled")
            raise
        except Exception as error:
            outcome = outcome_of(status_of(error))
            if outcome is Outcome.REFUSED:
                reason = getattr(error, "message", None) or repr(error)
                await fail(gift.id, f"Telegram refused: {reason}", label="refused")
                log.warning("gifts.refused", gift_id=str(gift.id), error=reason)
                return outcome
            self._unknown(gift, repr(error))
            return Outcome.UNKNOWN
        await mark_sent(gift.id, None, how="answered")
        log.info("gifts.sent", gift_id=str(gift.id), user_id=gift.user_id, stars=gift.star_count)
        return Outcome.SENT

    def _unknown(self, gift: GiftRecord, error: str) -> None:
        metrics.GIFT_UNKNOWN_OUTCOMES.inc()
        log.warning(
            "gifts.outcome_unknown",
            gift_id=str(gift.id),
            error=error,
            hint="not called again; settled from getStarTransactions",
        )

    async def settle_pass(self) -> dict[str, int]:
        """Settle what needs its ledger row; returns counts for the log and the CLI."""
        now = utcnow()
        records = await unsettled(now)
        attempts = [r for r in records if r.state is GiftState.PENDING]
        oldest = min(
            (r.attempt_started_at for r in attempts if r.attempt_started_at), default=None
        )
        metrics.GIFTS_UNSETTLED_OLDEST.set((now - oldest).total_seconds() if oldest else 0)
        # Rows that come after their purchase failed are looked for once a minute (a day
        # long), not every pass: each look reads the whole ledger.
        failed: list[GiftRecord] = []
        clock = asyncio.get_running_loop().time()
        if clock >= self._next_late_look:
            self._next_late_look = clock + LATE_LOOK_EVERY
            failed = await failed_lately(now)
        if not records and not failed:
            return {}
        rows = await read_purchase_rows(self.bot, self.max_pages)
        taken = await taken_rows([row.id for row in rows])
        by_id = {str(r.id): r for r in records}
        result = settle(
            [r.unsettled() for r in records],
            rows,
            taken,
            now=utcnow(),
            window=self.window,
            in_flight=self.in_flight,
        )
        counts = {"sent": 0, "matched": 0, "failed": 0, "waiting": len(result.waiting)}
        for gift_id, row_id in result.matched.items():
            record = by_id[gift_id]
            with contextlib.suppress(IntegrityError):  # the row is another's after all
                if record.state is GiftState.SENT:
                    counts["matched"] += await attach_row(record.id, row_id)
                elif await mark_sent(record.id, row_id, how="settled"):
                    counts["sent"] += 1
                    log.warning("gifts.settled_sent", gift_id=gift_id, transaction_id=row_id)
        for gift_id in result.failed:
            minutes = self.window.total_seconds() / 60
            reason = f"{NOT_IN_LEDGER} within {minutes:g} minutes of the attempt"
            if await fail(by_id[gift_id].id, reason, label="not_in_ledger"):
                counts["failed"] += 1
                log.warning("gifts.settled_failed", gift_id=gift_id)
        # A purchase still waiting for its row keeps the rows it may take (its call may
        # be on the wire, its row in the ledger already): those are not late rows of
        # failed ones, not yet.
        kept: dict[tuple[tuple[str, int], str, int], float] = {}
        for gift_id in result.waiting:
            waiting = by_id[gift_id].unsettled()
            earliest = waiting.attempt_started_at.timestamp() - CLOCK_SLACK
            kept[waiting.cls] = min(earliest, kept.get(waiting.cls, earliest))
        counts["late"] = await self._late_rows(
            failed,
            [row for row in rows if row.date < kept.get(row.cls, float("inf"))],
            taken | set(result.matched.values()),
        )
        return counts

    async def _late_rows(
        self, failed: list[GiftRecord], rows: list[PurchaseRow], taken: set[str]
    ) -> int:
        """Rows left over that belong to purchases failed already: Telegram made them
        after the window. Each is recorded on its purchase and reported, once."""
        if not failed:
            return 0
        late = settle(
            # As if answered: they take rows but are never failed (again) for want of one.
            [replace(r.unsettled(), sent=True) for r in failed],
            rows,
            taken,
            now=utcnow(),
            window=self.window,
            in_flight=self.in_flight,
        )
        noted = 0
        for gift_id, row_id in late.matched.items():
            with contextlib.suppress(IntegrityError):
                if await note_late_row(uuid.UUID(gift_id), row_id):
                    noted += 1
                    metrics.GIFT_LATE_PURCHASES.inc()
                    log.error(
                        "gifts.purchase_after_failure",
                        gift_id=gift_id,
                        transaction_id=row_id,
                        hint="Telegram made it after the settling window and the buyer has "
                        "the Stars back; raise GIFT_SETTLING_MINUTES, settle with the buyer",
                    )
        return noted


def describe(counts: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in counts.items()) or "nothing to settle"
