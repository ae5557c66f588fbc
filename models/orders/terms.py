"""What a payment is checked against: the order's terms, read in one statement, and
whether a pre-checkout query may be approved."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from tortoise import Tortoise

from models.infra.sql import as_datetime, execute
from models.kinds import OrderStatus
from models.refusals import Refusal, Refused
from models.tables import TopUpOrder
from models.values import XTR, parse_order_id, utcnow


async def is_our_order(payload: str) -> bool:
    """Whether an invoice payload names one of our orders (anything else was sold by
    something else on this bot token, or forged)."""
    order_id = parse_order_id(payload)
    return order_id is not None and await TopUpOrder.exists(id=order_id)


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """What a payment is checked against: the order's id, payer, amount, status, expiry."""

    id: uuid.UUID
    user_id: int
    amount: int
    status: OrderStatus
    expires_at: datetime


async def order_terms(order_id: uuid.UUID) -> OrderTerms | None:
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT user_id, amount, status, expires_at FROM topup_orders WHERE id = $1",
        order_id,
    )
    if not rows:
        return None
    row = rows[0]
    return OrderTerms(
        order_id,
        int(row["user_id"]),
        int(row["amount"]),
        OrderStatus(row["status"]),
        as_datetime(row["expires_at"]),
    )


async def check_checkout(
    payload: str, payer_id: int, currency: str, amount: int, now: datetime | None = None
) -> None:
    """Whether a pre-checkout query may be approved, against the stored order; one read,
    no writes. Raises Refused with the reason when it may not."""
    order_id = parse_order_id(payload)
    order = await order_terms(order_id) if order_id is not None else None
    if order is None:
        raise Refused(Refusal.UNKNOWN_ORDER)
    refusal = _refusal(order, payer_id, currency, amount, now or utcnow())
    if refusal is not None:
        raise Refused(refusal)


def _refusal(
    order: OrderTerms, payer_id: int, currency: str, amount: int, now: datetime
) -> Refusal | None:
    if order.user_id != payer_id:
        return Refusal.NOT_OWNER
    if currency != XTR:
        return Refusal.WRONG_CURRENCY
    if order.amount != amount:
        return Refusal.WRONG_AMOUNT
    if order.status is OrderStatus.PENDING and order.expires_at <= now:
        return Refusal.EXPIRED
    return _STATUS_REFUSALS.get(order.status)


_STATUS_REFUSALS = {
    OrderStatus.PAID: Refusal.ALREADY_PAID,
    OrderStatus.REFUNDED: Refusal.REFUNDED,
    OrderStatus.FAILED: Refusal.FAILED,
    OrderStatus.EXPIRED: Refusal.EXPIRED,
}
