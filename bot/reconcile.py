"""Reconciliation with Telegram's own ledger of Star payments (getStarTransactions).

aiogram confirms an update before its handler finishes, so a crash or an outage can
lose a successful_payment for good. Every pass reads Telegram's transactions and
applies the ones the ledger lacks through the same money operations as the live
handlers, which makes the two safe to race.

Telegram does not document the order of getStarTransactions, so a pass detects it
from the dates of a page and keeps a cursor in the database: the newest date fully
checked, and for oldest-first order also the number of items seen and the last one,
which is verified before the pass jumps ahead. A mismatch means a full scan.

What a pass acts on, and what it leaves alone:
- Transactions are read tolerantly (bot/transactions.py): only invoice payments from
  users and their refunds are applied; other kinds are counted and skipped, and an
  item that cannot be read or recorded is logged and counted while the pass goes on.
  The cursor never moves past an item that failed to record, so the next pass tries
  it again.
- Payments made before this database's deployment (models.infra.jobs.deployment_time) are
  listed, never credited or messaged; neither are their refunds. A payment for one of
  our orders is never from before deployment, whatever its date says.
- An affiliate-program payment credits what the buyer paid for (bot/transactions.py).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from aiogram import Bot

from bot.scan_cursor import ListingOrder, ScanCursor
from bot.transactions import INVOICE_PAYMENT, PAGE, UNREADABLE, Transaction, read_all, read_page
from models.infra import metrics
from models.infra.db import ping
from models.infra.jobs import deployment_time, load_cursor, save_cursor
from models.infra.leases import acquire_lease, release_lease
from models.kinds import EntryKind
from models.ledger.credits import CreditResult, CreditStatus, credit_charge
from models.ledger.refunds import RefundStatus, record_refund
from models.notices import NoticeKind
from models.orders.opening import expire_orders
from models.queries.charges import on_ledger
from models.queries.invariants import TelegramRecord
from models.queries.orders import order_amounts
from models.values import Charge, parse_order_id

log = structlog.get_logger("bot.reconcile")
JOB = "reconcile"
# This many records failing one after another is not one bad transaction but a
# database that is down: the pass stops (and the next one starts over).
FAILURES_IN_A_ROW = 10


@dataclass
class PassSummary:
    checked: int = 0
    credited: int = 0
    refunds_recorded: int = 0
    anomalies: int = 0
    skipped: int = 0
    failed: int = 0
    pages: int = 0
    full_scan: bool = False
    complete: bool = False
    # Payments dated before deployment seen by this pass, not credited.
    before_deployment: list[Transaction] = field(default_factory=list)

    def log_fields(self) -> dict[str, object]:
        fields = {k: v for k, v in vars(self).items() if k != "before_deployment"}
        return {**fields, "before_deployment": len(self.before_deployment)}


def paid_at(tx: Transaction) -> datetime:
    return datetime.fromtimestamp(tx.date, UTC)


@dataclass(frozen=True)
class Deployment:
    """The cut-off, and our orders named by the payloads of a set of transactions."""

    at: datetime
    orders: dict[uuid.UUID, int]  # order id → amount

    @classmethod
    async def load(cls, items: Iterable[Transaction]) -> Deployment:
        ids = {
            order_id
            for tx in items
            if tx.kind == INVOICE_PAYMENT and (order_id := parse_order_id(tx.payload))
        }
        return cls(await deployment_time(), await order_amounts(ids))

    def order_amount(self, tx: Transaction) -> int | None:
        order_id = parse_order_id(tx.payload)
        return self.orders.get(order_id) if order_id is not None else None

    def before(self, tx: Transaction) -> bool:
        """Paid before deployment. Telegram dates are whole seconds; our orders only
        exist since deployment, so a payment for one never counts as before it."""
        return tx.date < int(self.at.timestamp()) and self.order_amount(tx) is None

    def credit_amount(self, tx: Transaction) -> int:
        """Stars to credit. An affiliate payment's own amount is the bot's net share:
        for our order the buyer paid the order's amount; otherwise net + affiliate
        share (bot/transactions.py) is the best figure Telegram gives."""
        order_amount = self.order_amount(tx) if tx.affiliate else None
        # A refund's affiliate share may be negative: never a negative credit.
        return max(tx.amount, 0) if order_amount is None else order_amount


def _order_of(page: list[Transaction]) -> ListingOrder | None:
    dates = [tx.date for tx in page if tx.date]
    if len(dates) < 2 or dates[0] == dates[-1]:
        return None
    return "asc" if dates[0] < dates[-1] else "desc"


class Reconciler:
    def __init__(
        self,
        bot: Bot,
        *,
        holder: str | None = None,
        max_pages: int = 200,
        overlap: int = 600,
        lease_seconds: float = 30,
        give_up_after: int = 5,
    ) -> None:
        self.bot = bot
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.max_pages = max_pages
        self.overlap = overlap
        self.lease_seconds = lease_seconds
        self.give_up_after = give_up_after

    async def run_pass(self, *, full: bool = False) -> PassSummary | None:
        """One pass; None when another process holds the lease. `full` reads the whole
        history instead of resuming from the cursor (after an item was given up)."""
        if not await acquire_lease(JOB, self.holder, self.lease_seconds):
            log.info("reconcile.skipped_lease_held")
            return None
        # A short lease kept alive while the pass runs: a process killed mid-pass holds
        # up the next one for `lease_seconds` at most, however long passes take.
        renewal = asyncio.create_task(self._keep_lease())
        try:
            cursor = ScanCursor.load(await load_cursor(JOB))
            summary = await self._scan(cursor, full=full)
        finally:
            renewal.cancel()
            await release_lease(JOB, self.holder)
        metrics.RECONCILE_PASSES.labels("complete" if summary.complete else "partial").inc()
        metrics.LAST_RECONCILE.set(time.time())
        log.info("reconcile.pass", **summary.log_fields())
        return summary

    async def _keep_lease(self) -> None:
        """Renew the lease every third of its length. A renewal that fails is only
        logged: the lease saves work, it does not guard money (every record is
        idempotent), and the cursor is saved only by its holder."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                renewed = await acquire_lease(JOB, self.holder, self.lease_seconds)
            except Exception as error:
                log.warning("reconcile.lease_renewal_failed", error=repr(error))
                continue
            if not renewed:
                log.warning("reconcile.lease_lost")

    async def _scan(self, cursor: ScanCursor, *, full: bool = False) -> PassSummary:
        summary = PassSummary()
        watermark = cursor.watermark
        stop_at = 0 if full else watermark  # newest first: read down to this date
        first = await read_page(self.bot, 0)
        summary.pages = 1
        order = _order_of(first) or cursor.order
        offset, page = 0, first
        fresh_from: int | None = None  # oldest first: where the items new to us start
        if order == "asc" and len(first) == PAGE and cursor.count and not full:
            count = cursor.count
            start = max(0, count - PAGE)
            candidate = await read_page(self.bot, start)
            summary.pages += 1
            index = count - 1 - start
            if 0 <= index < len(candidate) and tuple(candidate[index].key) == cursor.anchor:
                offset, page, fresh_from = start, candidate, count
            else:
                log.warning("reconcile.cursor_mismatch_full_scan", count=count)
        summary.full_scan = offset == 0
        seen: list[tuple[int, Transaction]] = []  # (position in Telegram's list, item)
        while True:
            seen.extend(enumerate(page, start=offset))
            offset += len(page)
            if len(page) < PAGE:
                summary.complete = True
                break
            dates = [tx.date for tx in page if tx.date]
            if order != "asc" and dates and min(dates) < stop_at - self.overlap:
                summary.complete = True  # newest first: the rest was checked before
                break
            if summary.pages >= self.max_pages:
                log.warning("reconcile.page_cap_reached", pages=summary.pages)
                break
            page = await read_page(self.bot, offset)
            summary.pages += 1

        def fresh(position: int, tx: Transaction) -> bool:
            """New to us: counted in metrics and logged once, not on every pass."""
            return position >= fresh_from if fresh_from is not None else tx.date > watermark

        failed = self._hold_for(await self._apply(seen, summary, fresh), cursor)
        new_watermark = watermark
        if summary.complete:
            new_watermark = max([watermark, *(tx.date for _, tx in seen)])
        held = [(p, tx) for p, (tx, n) in failed.items() if n < self.give_up_after]
        if held:  # the next pass must reach the first failure again
            new_watermark = min(new_watermark, min(tx.date for _, tx in held) - 1)
        new_cursor = ScanCursor(
            order=order,
            watermark=new_watermark,
            failing={"|".join(tx.key): n for tx, n in failed.values()},
        )
        if order == "asc" and seen:
            count = min([offset, *(position for position, _ in held)])
            before = dict(seen).get(count - 1)
            # With nothing read before it to anchor on, the next pass scans in full.
            if before is not None:
                new_cursor = new_cursor.resumed_at(count, tuple(before.key))
        await save_cursor(JOB, self.holder, new_cursor.dump())
        return summary

    def _hold_for(
        self, failed: list[tuple[int, Transaction]], cursor: ScanCursor
    ) -> dict[int, tuple[Transaction, int]]:
        """Each failed item with the number of passes in a row it has failed. One that
        keeps failing stops holding the cursor back after `give_up_after` passes: else a
        row the database always refuses would stall every later recovery. `check` then
        lists it as missing; once its cause is fixed, `reconcile --full` reads it again."""
        counted = {
            position: (tx, cursor.failing.get("|".join(tx.key), 0) + 1) for position, tx in failed
        }
        for tx, attempts in counted.values():
            if attempts == self.give_up_after:
                metrics.RECONCILE_FAILED.labels("given_up").inc()
                log.error(
                    "reconcile.item_given_up",
                    charge_id=tx.id,
                    refund=tx.is_refund,
                    passes=attempts,
                    hint="`run_bot.py check` lists it; fix the cause, then "
                    "`run_bot.py reconcile --full`",
                )
        return counted

    async def _apply(
        self,
        seen: list[tuple[int, Transaction]],
        summary: PassSummary,
        fresh: Callable[[int, Transaction], bool],
    ) -> list[tuple[int, Transaction]]:
        """Record what the ledger lacks; returns the items that failed to record."""
        items = [tx for _, tx in seen]
        deployment = await Deployment.load(items)
        known = await on_ledger(tx.id for tx in items if tx.kind == INVOICE_PAYMENT)
        payments = {tx.id: tx for tx in items if tx.is_payment}
        refunded = {tx.id for tx in items if tx.is_refund}
        failed: list[tuple[int, Transaction]] = []
        failed_ids: set[str] = set()
        in_a_row = 0
        skipped: Counter[str] = Counter()
        unknown: set[str] = set()
        early: Counter[str] = Counter()

        def after_deployment(refund: Transaction) -> bool:
            """A refund is recorded when its payment counts: on the ledger already, seen
            by this pass after the cut-off, or for our order. A payment from after the
            cut-off that this pass did not see was seen by an earlier one, which
            credited it (the cursor never passes a failure)."""
            if (refund.id, EntryKind.TOPUP.value) in known:
                return True
            payment = payments.get(refund.id)
            if payment is not None:
                return not deployment.before(payment)
            return deployment.order_amount(refund) is not None

        # Oldest first and each payment before its refund, whatever Telegram's order.
        for position, tx in sorted(seen, key=lambda item: (item[1].date, not item[1].incoming)):
            summary.checked += 1
            new = fresh(position, tx)
            if tx.kind == UNREADABLE:
                summary.failed += 1
                if new:
                    metrics.RECONCILE_FAILED.labels("unreadable").inc()
                    log.error(
                        "reconcile.unreadable_transaction",
                        transaction_id=tx.id,
                        position=position,
                        reason=tx.detail,
                    )
                continue
            if tx.kind != INVOICE_PAYMENT:
                summary.skipped += 1
                if new:
                    skipped[tx.kind] += 1
                    if tx.detail:
                        unknown.add(tx.detail)
                continue
            entry = EntryKind.TOPUP if tx.incoming else EntryKind.REFUND
            if (tx.id, entry.value) in known:
                continue
            if tx.is_payment and deployment.before(tx):
                if tx.id not in refunded:
                    summary.before_deployment.append(tx)
                if new:
                    early["payment"] += 1
                continue
            if tx.is_refund and not after_deployment(tx):
                if new:
                    early["refund"] += 1
                continue
            if tx.id in failed_ids:  # its payment failed: both are tried again next pass
                failed.append((position, tx))
                continue
            try:
                if tx.is_payment:
                    await self._credit(tx, deployment, summary)
                else:
                    await self._refund(tx, deployment, summary)
            except Exception as error:
                summary.failed += 1
                failed.append((position, tx))
                failed_ids.add(tx.id)
                metrics.RECONCILE_FAILED.labels("apply").inc()
                log.error(
                    "reconcile.item_failed",
                    charge_id=tx.id,
                    refund=tx.is_refund,
                    error=repr(error),
                    hint="tried again next pass",
                )
                in_a_row += 1
                # A run of failures may mean the database is gone: then stop the pass.
                # With the database up they are bad items, each held and given up on
                # by the usual rules, and the pass goes on past them.
                if in_a_row >= FAILURES_IN_A_ROW:
                    await ping()
                    in_a_row = 0
                continue
            in_a_row = 0
            known.add((tx.id, entry.value))

        for kind, count in skipped.items():
            metrics.RECONCILE_SKIPPED.labels(kind).inc(count)
        if skipped:
            log.info("reconcile.skipped", kinds=dict(skipped))
        if unknown:
            # A shape newer than this code: worth a look, never a reason to stop.
            log.warning("reconcile.unknown_transaction_types", types=sorted(unknown))
        for kind, count in early.items():
            metrics.RECONCILE_BEFORE_DEPLOYMENT.labels(kind).inc(count)
        if early:
            log.info(
                "reconcile.before_deployment",
                payments=early["payment"],
                refunds=early["refund"],
                deployed_at=deployment.at.isoformat(),
                hint="not credited; `run_bot.py backfill --dry-run` lists them",
            )
        return failed

    async def _credit(self, tx: Transaction, deployment: Deployment, summary: PassSummary) -> None:
        amount = deployment.credit_amount(tx)
        result = await credit_charge(
            Charge(tx.id, tx.payer_id, amount, tx.payload),
            paid_at=paid_at(tx),
            notice=NoticeKind.RECOVERED,
            source="reconciliation",
        )
        if result.status is CreditStatus.CREDITED:
            summary.credited += 1
            summary.anomalies += result.anomaly is not None
            metrics.RECONCILE_RECOVERED.labels("payment").inc()
            log.warning(
                "reconcile.recovered_payment",
                charge_id=tx.id,
                user_id=tx.payer_id,
                amount=amount,
                affiliate_share=tx.affiliate_share if tx.affiliate else None,
                anomaly=result.anomaly,
            )

    async def _refund(self, tx: Transaction, deployment: Deployment, summary: PassSummary) -> None:
        refund = await record_refund(
            tx.id,
            user_id=tx.payer_id,
            # Used only when the payment itself never reached the ledger.
            amount=deployment.credit_amount(tx),
            payload=tx.payload,
            refunded_at=paid_at(tx),
            source="reconciliation",
        )
        if refund.status is RefundStatus.RECORDED:
            summary.refunds_recorded += 1
            metrics.RECONCILE_RECOVERED.labels("refund").inc()
            log.warning("reconcile.recovered_refund", charge_id=tx.id, amount=refund.amount)

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
    """Telegram's invoice payments and refunds, for the invariant check."""
    items = await read_all(bot, max_pages)
    deployment = await Deployment.load(items)
    record = TelegramRecord(deployed_at=deployment.at)
    for tx in items:
        if tx.kind == UNREADABLE:
            record.unreadable.append(f"transaction {tx.id or '(no id)'}: {tx.detail}")
        elif tx.kind != INVOICE_PAYMENT:
            record.skipped[f"{tx.kind} ({tx.detail})" if tx.detail else tx.kind] += 1
        elif tx.incoming:
            record.payments[tx.id] = tx.amount
            if tx.affiliate:
                record.affiliate[tx.id] = (tx.net, tx.affiliate_share)
            if deployment.before(tx):
                record.before_deployment[tx.id] = (tx.payer_id, tx.amount, paid_at(tx))
        else:
            record.refunds.add(tx.id)
    return record


# ---------------------------------------------------------------- backfill


@dataclass(frozen=True)
class BackfillPlan:
    deployed_at: datetime
    payments: list[Transaction]  # to credit, oldest first
    refunded: int  # payments before deployment that Telegram refunded: nothing to credit


async def plan_backfill(bot: Bot, since: datetime | None = None) -> BackfillPlan:
    """The payments made before deployment (and since `since`) that the ledger lacks."""
    items = await read_all(bot)
    deployment = await Deployment.load(items)
    refunds = {tx.id for tx in items if tx.is_refund}
    early = [
        tx
        for tx in items
        if tx.is_payment
        and deployment.before(tx)
        and (since is None or tx.date >= since.timestamp())
    ]
    known = await on_ledger(tx.id for tx in early)
    missing = [tx for tx in early if (tx.id, EntryKind.TOPUP.value) not in known]
    return BackfillPlan(
        deployment.at,
        sorted((tx for tx in missing if tx.id not in refunds), key=lambda tx: tx.date),
        sum(tx.id in refunds for tx in missing),
    )


async def backfill(
    payments: Iterable[Transaction], *, notify: bool = False
) -> list[tuple[Transaction, CreditResult | Exception]]:
    """Credit payments from before deployment, each once (credit_charge is idempotent
    on its charge id). Messages are off unless asked for: these payers were served, or
    not, long ago, and a message about an old payment reads like a mistake."""
    results: list[tuple[Transaction, CreditResult | Exception]] = []
    for tx in payments:
        try:
            result = await credit_charge(
                Charge(tx.id, tx.payer_id, tx.amount, tx.payload),
                paid_at=paid_at(tx),
                notice=NoticeKind.RECOVERED if notify else None,
                source="backfill",
            )
        except Exception as error:
            log.error("backfill.item_failed", charge_id=tx.id, error=repr(error))
            results.append((tx, error))
            continue
        log.warning(
            "backfill.credited",
            charge_id=tx.id,
            user_id=tx.payer_id,
            amount=tx.amount,
            status=result.status,
        )
        results.append((tx, result))
    return results
