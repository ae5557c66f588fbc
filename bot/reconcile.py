"""Reconciliation with Telegram's own ledger of Star payments (getStarTransactions).

aiogram confirms an update before its handler finishes, so a crash or an outage can
lose a successful_payment for good. Every pass reads Telegram's transactions and
applies the ones the ledger lacks through the same money operations as the live
handlers, which makes the two safe to race.

Telegram does not document the order of getStarTransactions, so a pass detects it
from the dates of a page and keeps a cursor in the database: the newest date fully
checked, and for oldest-first order also the number of items seen and the last one,
which is verified before the pass jumps ahead. A mismatch means a full scan.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import asdict, dataclass

import structlog
from aiogram import Bot
from aiogram.types import StarTransaction, TransactionPartnerUser

from models import metrics
from models.invariants import TelegramRecord
from models.jobs import acquire_lease, load_cursor, release_lease, save_cursor
from models.money import (
    Charge,
    CreditStatus,
    RefundStatus,
    credit_charge,
    expire_orders,
    record_refund,
)
from models.tables import EntryKind, LedgerEntry

log = structlog.get_logger("bot.reconcile")
PAGE = 100
JOB = "reconcile"


@dataclass
class PassSummary:
    checked: int = 0
    credited: int = 0
    refunds_recorded: int = 0
    anomalies: int = 0
    pages: int = 0
    full_scan: bool = False
    complete: bool = False


def _invoice_partner(tx: StarTransaction) -> TransactionPartnerUser | None:
    partner = tx.source or tx.receiver
    if (
        isinstance(partner, TransactionPartnerUser)
        and partner.transaction_type == "invoice_payment"
    ):
        return partner
    return None


def _epoch(tx: StarTransaction) -> int:
    return int(tx.date.timestamp())


def _order_of(page: list[StarTransaction]) -> str | None:
    dates = [_epoch(tx) for tx in page]
    if dates[0] < dates[-1]:
        return "asc"
    if dates[0] > dates[-1]:
        return "desc"
    return None


def _key(tx: StarTransaction) -> list[str]:
    return [tx.id, "in" if tx.source is not None else "out"]


class Reconciler:
    def __init__(
        self,
        bot: Bot,
        *,
        holder: str | None = None,
        max_pages: int = 200,
        overlap: int = 600,
        lease_seconds: float = 300,
    ) -> None:
        self.bot = bot
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.max_pages = max_pages
        self.overlap = overlap
        self.lease_seconds = lease_seconds

    async def _page(self, offset: int) -> list[StarTransaction]:
        result = await self.bot.get_star_transactions(offset=offset, limit=PAGE)
        return list(result.transactions)

    async def run_pass(self) -> PassSummary | None:
        """One pass; None when another process holds the lease."""
        if not await acquire_lease(JOB, self.holder, self.lease_seconds):
            log.info("reconcile.skipped_lease_held")
            return None
        try:
            summary = await self._scan(await load_cursor(JOB))
        finally:
            await release_lease(JOB, self.holder)
        metrics.RECONCILE_PASSES.labels("complete" if summary.complete else "partial").inc()
        metrics.LAST_RECONCILE.set(time.time())
        log.info("reconcile.pass", **asdict(summary))
        return summary

    async def _scan(self, cursor: dict[str, object]) -> PassSummary:
        summary = PassSummary()
        watermark = int(cursor.get("watermark", 0))  # type: ignore[arg-type]
        first = await self._page(0)
        summary.pages = 1
        order = (_order_of(first) if len(first) > 1 else None) or cursor.get("order")
        offset, page = 0, first
        if order == "asc" and len(first) == PAGE and cursor.get("count"):
            count = int(cursor["count"])  # type: ignore[arg-type]
            start = max(0, count - PAGE)
            candidate = await self._page(start)
            summary.pages += 1
            index = count - 1 - start
            if 0 <= index < len(candidate) and _key(candidate[index]) == cursor.get("anchor"):
                offset, page = start, candidate
            else:
                log.warning("reconcile.cursor_mismatch_full_scan", count=count)
        summary.full_scan = offset == 0
        newest = watermark
        last: StarTransaction | None = None
        while True:
            await self._apply(page, summary)
            if page:
                newest = max(newest, *(_epoch(tx) for tx in page))
                last = page[-1]
            offset += len(page)
            if len(page) < PAGE:
                summary.complete = True
                break
            if order != "asc" and min(_epoch(tx) for tx in page) < watermark - self.overlap:
                summary.complete = True  # newest first: the rest was checked before
                break
            if summary.pages >= self.max_pages:
                log.warning("reconcile.page_cap_reached", pages=summary.pages)
                break
            page = await self._page(offset)
            summary.pages += 1
        new_cursor: dict[str, object] = {"order": order, "watermark": watermark}
        if summary.complete:
            new_cursor["watermark"] = newest
        if order == "asc" and last is not None:
            new_cursor.update(count=offset, anchor=_key(last))
        await save_cursor(JOB, self.holder, new_cursor)
        return summary

    async def _apply(self, page: list[StarTransaction], summary: PassSummary) -> None:
        known = set(
            await LedgerEntry.filter(
                telegram_payment_charge_id__in=[tx.id for tx in page]
            ).values_list("telegram_payment_charge_id", "kind")
        )
        for tx in page:
            summary.checked += 1
            partner = _invoice_partner(tx)
            if partner is None:
                continue
            payload = partner.invoice_payload or ""
            if tx.source is not None:
                if (tx.id, EntryKind.TOPUP) in known:
                    continue
                result = await credit_charge(
                    Charge(tx.id, partner.user.id, tx.amount, payload),
                    paid_at=tx.date,
                    notice="recovered",
                    source="reconciliation",
                )
                if result.status is CreditStatus.CREDITED:
                    summary.credited += 1
                    summary.anomalies += result.anomaly is not None
                    metrics.RECONCILE_RECOVERED.labels("payment").inc()
                    log.warning(
                        "reconcile.recovered_payment",
                        charge_id=tx.id,
                        user_id=partner.user.id,
                        amount=tx.amount,
                        anomaly=result.anomaly,
                    )
            else:
                if (tx.id, EntryKind.REFUND) in known:
                    continue
                refund = await record_refund(
                    tx.id,
                    user_id=partner.user.id,
                    amount=tx.amount,
                    payload=payload,
                    refunded_at=tx.date,
                    source="reconciliation",
                )
                if refund.status is RefundStatus.RECORDED:
                    summary.refunds_recorded += 1
                    metrics.RECONCILE_RECOVERED.labels("refund").inc()
                    log.warning("reconcile.recovered_refund", charge_id=tx.id, amount=tx.amount)

    async def run_forever(self, interval: float) -> None:
        """A pass now, then one every `interval` seconds; failures wait for the next."""
        while True:
            try:
                await expire_orders()
                await self.run_pass()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                metrics.RECONCILE_PASSES.labels("failed").inc()
                log.error("reconcile.pass_failed", error=repr(error))
            await asyncio.sleep(interval)


async def telegram_record(bot: Bot, max_pages: int = 10_000) -> TelegramRecord:
    """All of Telegram's invoice payments and refunds, for the invariant check."""
    record = TelegramRecord()
    offset = 0
    for _ in range(max_pages):
        page = list((await bot.get_star_transactions(offset=offset, limit=PAGE)).transactions)
        for tx in page:
            if _invoice_partner(tx) is None:
                continue
            if tx.source is not None:
                record.payments[tx.id] = tx.amount
            else:
                record.refunds.add(tx.id)
        offset += len(page)
        if len(page) < PAGE:
            break
    return record
