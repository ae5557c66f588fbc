"""Crediting a charge Telegram took, exactly once per charge id."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.infra import metrics
from models.infra.sql import execute
from models.kinds import Anomaly, EntryKind, OrderStatus
from models.ledger.entries import post
from models.notices import NoticeKind, enqueue_notice
from models.orders.terms import OrderTerms, order_terms
from models.queries.accounts import get_balance
from models.queries.charges import find_topup
from models.users import ensure_user
from models.values import XTR, Charge, parse_order_id, utcnow


class CreditStatus(StrEnum):
    CREDITED = "credited"
    ALREADY_CREDITED = "already_credited"


@dataclass(frozen=True, slots=True)
class CreditResult:
    status: CreditStatus
    amount: int
    balance: int
    order_id: uuid.UUID | None
    anomaly: Anomaly | None


def _static_anomaly(order: OrderTerms | None, charge: Charge) -> Anomaly | None:
    """What is wrong with a charge judged by the parts of its order that never change."""
    if order is None:
        return Anomaly.UNKNOWN_ORDER
    if charge.currency != XTR:
        return Anomaly.CURRENCY
    if order.user_id != charge.payer_id:
        return Anomaly.PAYER_MISMATCH
    if order.amount != charge.amount:
        return Anomaly.AMOUNT_MISMATCH
    return None


_STATUS_ANOMALY = {
    OrderStatus.PAID: Anomaly.ORDER_ALREADY_PAID,
    OrderStatus.REFUNDED: Anomaly.ORDER_REFUNDED,
    OrderStatus.FAILED: Anomaly.ORDER_FAILED,
    OrderStatus.EXPIRED: Anomaly.ORDER_EXPIRED,
}


async def credit_charge(
    charge: Charge,
    *,
    paid_at: datetime | None = None,
    notice: NoticeKind | None = NoticeKind.CREDITED,
    anomaly: Anomaly | None = None,
    source: str = "update",
) -> CreditResult:
    """Credit a charge Telegram took to its payer, exactly once per charge id.

    Whatever its order says, the payer is credited: Telegram has their Stars. What did
    not match is written on the ledger row as an anomaly for the operator.
    """
    started = time.perf_counter()
    paid_at = paid_at or utcnow()
    order_id = parse_order_id(charge.payload)
    order = await order_terms(order_id) if order_id is not None else None
    anomaly = anomaly or _static_anomaly(order, charge)
    linked_order = order_id if order is not None else None
    # Money in another currency is not Stars: it is put on the ledger at 0, so it is
    # recorded once and listed by `check`, and the operator settles it with the payer.
    foreign = charge.currency != XTR
    stars = 0 if foreign else charge.amount
    note = f"{charge.amount} {charge.currency[:8]} not credited as Stars" if foreign else None
    if foreign:
        anomaly, notice = Anomaly.CURRENCY, None
    try:
        async with in_transaction() as conn:
            # The payer's own order references their row, so it exists; otherwise
            # (no order, someone else's) it may not yet.
            if order is None or order.user_id != charge.payer_id:
                await ensure_user(conn, charge.payer_id)
            balance = await post(
                conn,
                charge.payer_id,
                stars,
                EntryKind.TOPUP,
                source=source,
                order_id=linked_order,
                charge_id=charge.charge_id,
                anomaly=anomaly,
                note=note,
            )
            if order is not None and anomaly is None:
                anomaly = await _mark_paid(conn, order, charge, paid_at)
                if anomaly is not None:
                    await execute(
                        conn,
                        "UPDATE ledger_entries SET anomaly = $1 "
                        "WHERE telegram_payment_charge_id = $2 AND kind = $3",
                        anomaly.value,
                        charge.charge_id,
                        EntryKind.TOPUP.value,
                    )
            if notice:
                await enqueue_notice(
                    conn, charge.payer_id, notice, charge.charge_id, stars, balance
                )
    except IntegrityError:
        existing = await find_topup(charge.charge_id)
        if existing is None:  # the violation was something else: let it be seen
            raise
        metrics.DUPLICATES.labels(source).inc()
        return CreditResult(
            CreditStatus.ALREADY_CREDITED,
            existing.amount,
            await get_balance(existing.user_id),
            existing.order_id,
            existing.anomaly,
        )
    metrics.CREDIT_SECONDS.observe(time.perf_counter() - started)
    metrics.CREDITS.labels(source).inc()
    metrics.CREDITED_STARS.labels(source).inc(stars)
    if anomaly is not None:
        metrics.ANOMALIES.labels(anomaly.value).inc()
    return CreditResult(CreditStatus.CREDITED, stars, balance, linked_order, anomaly)


async def _mark_paid(
    conn: BaseDBAsyncClient, order: OrderTerms, charge: Charge, paid_at: datetime
) -> Anomaly | None:
    """Mark the order paid by this charge; say what was odd if it was not payable."""
    updated, _ = await execute(
        conn,
        "UPDATE topup_orders SET status = $1, paid_at = $2, telegram_payment_charge_id = $3 "
        "WHERE id = $4 AND status IN ('pending', 'expired', 'failed')",
        OrderStatus.PAID.value,
        paid_at,
        charge.charge_id,
        order.id,
    )
    if updated:
        if order.status is OrderStatus.PENDING and order.expires_at > paid_at:
            return None
        return _STATUS_ANOMALY.get(order.status, Anomaly.ORDER_EXPIRED)
    _, rows = await execute(conn, "SELECT status FROM topup_orders WHERE id = $1", order.id)
    return _STATUS_ANOMALY.get(OrderStatus(rows[0]["status"]), Anomaly.ORDER_ALREADY_PAID)
