"""Reconciliation with Telegram's own ledger of Star payments (getStarTransactions):
the loop, the lease and the I/O.

aiogram confirms an update before its handler finishes, so a crash or an outage can
lose a successful_payment for good, and Telegram drops an update it could not deliver
within 24 hours. Every pass reads Telegram's transactions and applies the ones the
ledger lacks through the same money operations as the live handlers, which makes the
two safe to race.

What a pass decides is the core's (models.reconciliation): where it starts reading and
what it remembers (`cursor`), which rows are our payments and refunds whatever their
label and what each credits (`sales`), the deployment cut-off (`deployment`), what to
do with each row (`passes`), what `check` compares (`record`) and what a backfill
credits (`backfill`). This module reads the pages through the Bot, holds the lease,
looks up our orders and ledger, calls the credit and refund operations, and logs and
counts: an item that cannot be read or recorded is logged and counted while the pass
goes on.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from aiogram import Bot

from bot.transactions import read_all, read_page
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
from models.queries.orders import order_amounts
from models.reconciliation.backfill import BackfillPlan, backfill_charge, select_backfill
from models.reconciliation.cursor import (
    ScanCursor,
    anchored,
    count_failures,
    is_new,
    listing_order,
    next_cursor,
    read_enough,
    resume_offset,
)
from models.reconciliation.deployment import Deployment, named_orders, paid_at
from models.reconciliation.passes import Action, Step, plan_pass
from models.reconciliation.record import TelegramRecord
from models.reconciliation.record import telegram_record as record_of
from models.reconciliation.sales import Books, ledger_ids
from models.reconciliation.transactions import Transaction
from models.values import Charge

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


async def _in_view(items: Sequence[Transaction]) -> tuple[Deployment, Books]:
    """The cut-off, our orders these rows name, and what our ledger holds of them."""
    deployment = Deployment(await deployment_time(), await order_amounts(named_orders(items)))
    known = await on_ledger(ledger_ids(items))
    books = Books(
        topups=frozenset(charge for charge, kind in known if kind == EntryKind.TOPUP.value),
        refunds=frozenset(charge for charge, kind in known if kind == EntryKind.REFUND.value),
    )
    return deployment, books


@dataclass
class _Unrecorded:
    """What a pass leaves alone: counted in its summary, and in metrics and logs once
    per item (when it is new to us), reported at the end of the pass."""

    skipped: Counter[str] = field(default_factory=Counter)
    unknown: set[str] = field(default_factory=set)
    early: Counter[str] = field(default_factory=Counter)

    def note(self, step: Step, new: bool, summary: PassSummary) -> None:
        tx = step.tx
        if step.action is Action.UNREADABLE:
            summary.failed += 1
            if new:
                metrics.RECONCILE_FAILED.labels("unreadable").inc()
                log.error(
                    "reconcile.unreadable_transaction",
                    transaction_id=tx.id,
                    position=step.position,
                    reason=tx.detail,
                )
        elif step.action is Action.SKIP:
            summary.skipped += 1
            if new:
                self.skipped[tx.kind] += 1
                if tx.detail and tx.kind.endswith(":unknown"):
                    self.unknown.add(tx.detail)
        elif step.action is Action.BEFORE_DEPLOYMENT and new:
            self.early["payment" if tx.incoming else "refund"] += 1

    def report(self, deployed_at: datetime) -> None:
        for kind, count in self.skipped.items():
            metrics.RECONCILE_SKIPPED.labels(kind).inc(count)
        if self.skipped:
            log.info("reconcile.skipped", kinds=dict(self.skipped))
        if self.unknown:
            # A shape newer than this code: worth a look, never a reason to stop.
            log.warning("reconcile.unknown_transaction_types", types=sorted(self.unknown))
        for kind, count in self.early.items():
            metrics.RECONCILE_BEFORE_DEPLOYMENT.labels(kind).inc(count)
        if self.early:
            log.info(
                "reconcile.before_deployment",
                payments=self.early["payment"],
                refunds=self.early["refund"],
                deployed_at=deployed_at.isoformat(),
                hint="not credited; `run_bot.py backfill --dry-run` lists them",
            )


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
        first = await read_page(self.bot, 0)
        summary.pages = 1
        order = listing_order(first) or cursor.order
        offset, page = 0, first
        new_from: int | None = None  # oldest first: where the items new to us start
        start = resume_offset(cursor, first, order, full=full)
        if start is not None:
            candidate = await read_page(self.bot, start)
            summary.pages += 1
            if anchored(cursor, candidate, start):
                offset, page, new_from = start, candidate, cursor.count
            else:
                log.warning("reconcile.cursor_mismatch_full_scan", count=cursor.count)
        summary.full_scan = offset == 0
        stop_at = 0 if full else cursor.watermark  # newest first: read down to this date
        seen: list[tuple[int, Transaction]] = []  # (position in Telegram's list, item)
        while True:
            seen.extend(enumerate(page, start=offset))
            offset += len(page)
            if read_enough(page, order, stop_at=stop_at, overlap=self.overlap):
                summary.complete = True
                break
            if summary.pages >= self.max_pages:
                log.warning("reconcile.page_cap_reached", pages=summary.pages)
                break
            page = await read_page(self.bot, offset)
            summary.pages += 1

        def new(position: int, tx: Transaction) -> bool:
            return is_new(position, tx, new_from=new_from, watermark=cursor.watermark)

        failures = count_failures(await self._apply(seen, summary, new), cursor)
        self._log_given_up(failures.values())
        after = next_cursor(
            cursor,
            order=order,
            seen=seen,
            read_to=offset,
            complete=summary.complete,
            failures=failures,
            give_up_after=self.give_up_after,
        )
        await save_cursor(JOB, self.holder, after.dump())
        return summary

    def _log_given_up(self, failures: Iterable[tuple[Transaction, int]]) -> None:
        """An item that failed `give_up_after` passes in a row no longer holds the cursor
        back (models.reconciliation.cursor). `check` then lists it as missing; once its
        cause is fixed, `reconcile --full` reads it again."""
        for tx, attempts in failures:
            if attempts == self.give_up_after:
                metrics.RECONCILE_FAILED.labels("given_up").inc()
                log.error(
                    "reconcile.item_given_up",
                    charge_id=tx.id,
                    refund=not tx.incoming,
                    passes=attempts,
                    hint="`run_bot.py check` lists it; fix the cause, then "
                    "`run_bot.py reconcile --full`",
                )

    async def _apply(
        self,
        seen: list[tuple[int, Transaction]],
        summary: PassSummary,
        new: Callable[[int, Transaction], bool],
    ) -> list[tuple[int, Transaction]]:
        """Record what the ledger lacks; returns the items that failed to record."""
        deployment, books = await _in_view([tx for _, tx in seen])
        plan = plan_pass(seen, deployment, books)
        summary.before_deployment.extend(plan.waiting)
        unrecorded = _Unrecorded()
        failed: list[tuple[int, Transaction]] = []
        failed_ids: set[str] = set()
        in_a_row = 0
        for step in plan.steps:
            summary.checked += 1
            if step.action is not Action.CREDIT and step.action is not Action.REFUND:
                unrecorded.note(step, new(step.position, step.tx), summary)
                continue
            if step.tx.id in failed_ids:  # its payment failed: both are tried next pass
                failed.append((step.position, step.tx))
                continue
            try:
                await self._record(step, summary)
            except Exception as error:
                summary.failed += 1
                failed.append((step.position, step.tx))
                failed_ids.add(step.tx.id)
                metrics.RECONCILE_FAILED.labels("apply").inc()
                log.error(
                    "reconcile.item_failed",
                    charge_id=step.tx.id,
                    refund=not step.tx.incoming,
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
        unrecorded.report(deployment.at)
        return failed

    async def _record(self, step: Step, summary: PassSummary) -> None:
        assert step.charge is not None
        if step.action is Action.CREDIT:
            await self._credit(step.tx, step.charge, summary)
        else:
            await self._refund(step.tx, step.charge, summary)

    async def _credit(self, tx: Transaction, charge: Charge, summary: PassSummary) -> None:
        result = await credit_charge(
            charge,
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
                user_id=charge.payer_id,
                amount=charge.amount,
                affiliate_share=tx.affiliate_share if tx.affiliate else None,
                label=tx.kind,
                anomaly=result.anomaly,
            )

    async def _refund(self, tx: Transaction, payment: Charge, summary: PassSummary) -> None:
        refund = await record_refund(
            tx.id,
            # Used only when the payment itself never reached the ledger.
            user_id=payment.payer_id,
            amount=payment.amount,
            payload=payment.payload,
            refunded_at=paid_at(tx),
            source="reconciliation",
        )
        if refund.status is RefundStatus.RECORDED:
            summary.refunds_recorded += 1
            metrics.RECONCILE_RECOVERED.labels("refund").inc()
            log.warning(
                "reconcile.recovered_refund", charge_id=tx.id, amount=refund.amount, label=tx.kind
            )

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
    """Telegram's record of our payments and refunds, for the invariant check."""
    items = await read_all(bot, max_pages)
    return record_of(items, *await _in_view(items))


# ---------------------------------------------------------------- backfill


async def plan_backfill(bot: Bot, since: datetime | None = None) -> BackfillPlan:
    """The payments made before deployment (and since `since`) that the ledger lacks."""
    items = await read_all(bot)
    return select_backfill(items, *await _in_view(items), since)


async def backfill(
    payments: Iterable[Transaction], *, notify: bool = False
) -> list[tuple[Transaction, CreditResult | Exception]]:
    """Credit payments from before deployment, each once (credit_charge is idempotent
    on its charge id). Messages are off unless asked for: these payers were served, or
    not, long ago, and a message about an old payment reads like a mistake."""
    results: list[tuple[Transaction, CreditResult | Exception]] = []
    for tx in payments:
        charge = backfill_charge(tx)
        try:
            result = await credit_charge(
                charge,
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
            user_id=charge.payer_id,
            amount=charge.amount,
            status=result.status,
        )
        results.append((tx, result))
    return results
