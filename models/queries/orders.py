"""Orders as their buyer and the operator see them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import Tortoise

from models.infra.sql import as_datetime, execute
from models.kinds import OrderStatus
from models.queries.charges import chunks
from models.tables import TopUpOrder
from models.values import utcnow


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """A top-up order as stored (`status` as written: see `visible_status`)."""

    id: uuid.UUID
    user_id: int
    amount: int
    status: OrderStatus
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    charge_id: str | None


def visible_status(order: OrderRecord, now: datetime | None = None) -> OrderStatus:
    """A pending order past its expiry is expired even before the sweep marks it."""
    if order.status is OrderStatus.PENDING and order.expires_at <= (now or utcnow()):
        return OrderStatus.EXPIRED
    return order.status


def _moment(value: Any) -> datetime | None:
    return None if value is None else as_datetime(value).astimezone(UTC)


async def find_order(order_id: uuid.UUID, *, user_id: int | None = None) -> OrderRecord | None:
    """The order; with `user_id`, only if it is that user's (someone else's order is as
    unknown to a caller as a made-up id)."""
    sql = (
        "SELECT id, user_id, amount, status, created_at, expires_at, paid_at, "
        "telegram_payment_charge_id FROM topup_orders WHERE id = $1"
    )
    args: list[object] = [order_id]
    if user_id is not None:
        sql += " AND user_id = $2"
        args.append(user_id)
    _, rows = await execute(Tortoise.get_connection("default"), sql, *args)
    if not rows:
        return None
    row = rows[0]
    return OrderRecord(
        uuid.UUID(str(row["id"])),
        int(row["user_id"]),
        int(row["amount"]),
        OrderStatus(row["status"]),
        as_datetime(row["created_at"]).astimezone(UTC),
        as_datetime(row["expires_at"]).astimezone(UTC),
        _moment(row["paid_at"]),
        row["telegram_payment_charge_id"],
    )


async def order_amounts(order_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The amount of each of these orders that exists."""
    amounts: dict[uuid.UUID, int] = {}
    for chunk in chunks(sorted(set(order_ids))):
        for order_id, amount in await TopUpOrder.filter(id__in=chunk).values_list("id", "amount"):
            amounts[uuid.UUID(str(order_id))] = int(amount)
    return amounts
