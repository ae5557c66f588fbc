"""What a payment is checked against: the order's terms, read in one statement, and
the verdict on a pre-checkout query."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tortoise import Tortoise

from models.infra.sql import as_datetime, execute
from models.tables import OrderStatus, TopUpOrder
from models.values import XTR, parse_order_id, utcnow


class CheckoutVerdict(StrEnum):
    OK = "ok"
    UNKNOWN_ORDER = "unknown_order"
    NOT_OWNER = "not_owner"
    WRONG_CURRENCY = "wrong_currency"
    WRONG_AMOUNT = "wrong_amount"
    EXPIRED = "expired"
    ALREADY_PAID = "already_paid"
    REFUNDED = "refunded"
    FAILED = "failed"


async def is_our_order(payload: str) -> bool:
    """Whether an invoice payload names one of our orders (anything else was sold by
    something else on this bot token, or forged)."""
    order_id = parse_order_id(payload)
    return order_id is not None and await TopUpOrder.exists(id=order_id)


def visible_status(order: TopUpOrder, now: datetime | None = None) -> OrderStatus:
    """A pending order past its expiry is expired even before the sweep marks it."""
    if order.status is OrderStatus.PENDING and order.expires_at <= (now or utcnow()):
        return OrderStatus.EXPIRED
    return OrderStatus(order.status)


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
) -> CheckoutVerdict:
    """Decide a pre-checkout query against the stored order; one read, no writes."""
    order_id = parse_order_id(payload)
    if order_id is None:
        return CheckoutVerdict.UNKNOWN_ORDER
    order = await order_terms(order_id)
    if order is None:
        return CheckoutVerdict.UNKNOWN_ORDER
    if order.user_id != payer_id:
        return CheckoutVerdict.NOT_OWNER
    if currency != XTR:
        return CheckoutVerdict.WRONG_CURRENCY
    if order.amount != amount:
        return CheckoutVerdict.WRONG_AMOUNT
    status = order.status
    if status is OrderStatus.PAID:
        return CheckoutVerdict.ALREADY_PAID
    if status is OrderStatus.REFUNDED:
        return CheckoutVerdict.REFUNDED
    if status is OrderStatus.FAILED:
        return CheckoutVerdict.FAILED
    if status is OrderStatus.EXPIRED or order.expires_at <= (now or utcnow()):
        return CheckoutVerdict.EXPIRED
    return CheckoutVerdict.OK
