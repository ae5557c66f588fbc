"""Opening a top-up order (or giving the buyer's open one back), its invoice links,
and the ends of an unpaid order: failed, expired."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models.infra import metrics
from models.infra.sql import execute
from models.kinds import OrderStatus
from models.orders.limits import PAYING_WINDOW, rate_limit
from models.tables import TopUpOrder
from models.users import upsert_profile
from models.values import Profile, utcnow


@dataclass(frozen=True, slots=True)
class NewOrder:
    """An order to pay: a new one, or the buyer's open one for the same amount.

    `invoice_url` is the link stored for a reused order; None for a new order, or
    for a reused one whose link is not stored yet (the API then asks for another
    link to the same order).
    """

    id: uuid.UUID
    amount: int
    expires_at: datetime
    invoice_url: str | None = None
    reused: bool = False


# The same steps as the PostgreSQL function `open_or_reuse_topup_order`
# (migrations/postgres/models/3_*_reuse_open_orders.py): change both together.
_OPEN = (
    "user_id = $1 AND status = 'pending' AND expires_at > $2 "
    "AND (checkout_at IS NULL OR checkout_at < $3)"
)
_REUSABLE_ORDER = (
    f"SELECT id, invoice_url FROM topup_orders WHERE {_OPEN} AND amount = $4 "
    "ORDER BY expires_at DESC, id DESC LIMIT 1"
)
_RECENT_ORDERS = (
    "SELECT COUNT(*) AS recent, MIN(created_at) AS oldest FROM topup_orders "
    "WHERE user_id = $1 AND created_at > $2"
)
# The most recently pressed orders stay open (giving one back pushes its expiry out).
_RETIRE_OLDEST = (
    "UPDATE topup_orders SET status = 'expired', expires_at = $2 WHERE id IN ("
    f"SELECT id FROM topup_orders WHERE {_OPEN} "
    "ORDER BY expires_at DESC, id DESC LIMIT -1 OFFSET $4)"
)


async def open_order(
    user: Profile,
    amount: int,
    *,
    ttl: int,
    max_pending: int,
    per_minute: int,
    now: datetime | None = None,
) -> NewOrder:
    """Give the buyer an order for `amount` to pay, or raise Refused
    (RATE_LIMITED, with `retry_after`).

    - An open order of the same amount is given back (its expiry pushed out to a
      full `ttl`), so pressing Buy again never piles up invoices.
    - A new order past `max_pending` open ones retires the oldest (it expires now
      and its link then fails pre-checkout as expired): an abandoned payment sheet
      never locks a buyer out.
    - At most `per_minute` new orders a minute; the refusal says when the next one
      is allowed.

    Writing the user's row first locks it, so one user's orders are opened one at a
    time across every API process and none of this can be raced past. On PostgreSQL
    that is one round trip, the function `open_or_reuse_topup_order`; on SQLite the
    same steps in a transaction. An order whose pre-checkout was approved in the last
    PAYING_WINDOW is being paid: it is neither given back nor retired.
    """
    now = now or utcnow()
    order_id, expires_at = uuid.uuid4(), now + timedelta(seconds=ttl)
    conn = Tortoise.get_connection("default")
    if conn.capabilities.dialect == "postgres":
        _, rows = await execute(
            conn,
            "SELECT o_order_id, o_invoice_url, o_reused, o_recent, o_oldest "
            "FROM open_or_reuse_topup_order($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            user.id,
            user.username,
            user.first_name,
            user.language_code,
            order_id,
            amount,
            now,
            expires_at,
            now - PAYING_WINDOW,
            max_pending,
            per_minute,
        )
        row = rows[0]
        if row["o_order_id"] is None:
            refusal = rate_limit(row["o_recent"], row["o_oldest"], per_minute, now)
            assert refusal is not None
            raise refusal
        order = NewOrder(
            row["o_order_id"], amount, expires_at, row["o_invoice_url"], row["o_reused"]
        )
    else:
        async with in_transaction() as tx:
            order = await _open_order_in(
                tx, user, order_id, amount, now, expires_at, max_pending, per_minute
            )
    if not order.reused:
        metrics.ORDERS_OPENED.inc()
    return order


async def _open_order_in(
    tx: BaseDBAsyncClient,
    user: Profile,
    order_id: uuid.UUID,
    amount: int,
    now: datetime,
    expires_at: datetime,
    max_pending: int,
    per_minute: int,
) -> NewOrder:
    """open_order's steps, one statement at a time (SQLite)."""
    await upsert_profile(tx, user, now)
    paying_since = now - PAYING_WINDOW
    _, rows = await execute(tx, _REUSABLE_ORDER, user.id, now, paying_since, amount)
    if rows:
        reused = uuid.UUID(str(rows[0]["id"]))
        await execute(
            tx, "UPDATE topup_orders SET expires_at = $1 WHERE id = $2", expires_at, reused
        )
        return NewOrder(reused, amount, expires_at, rows[0]["invoice_url"], reused=True)
    _, rows = await execute(tx, _RECENT_ORDERS, user.id, now - timedelta(minutes=1))
    refusal = rate_limit(rows[0]["recent"], rows[0]["oldest"], per_minute, now)
    if refusal is not None:
        raise refusal
    await execute(tx, _RETIRE_OLDEST, user.id, now, paying_since, max_pending - 1)
    await execute(
        tx,
        "INSERT INTO topup_orders (id, user_id, amount, status, created_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        order_id,
        user.id,
        amount,
        OrderStatus.PENDING.value,
        now,
        expires_at,
    )
    return NewOrder(order_id, amount, expires_at)


async def attach_invoices(links: Mapping[uuid.UUID, str]) -> None:
    """Record the invoice links of orders, many in one statement.

    Nothing reads a link to decide anything (the payload is the order id), so the
    API writes them in batches behind the requests (api/invoice_links.py).
    """
    conn = Tortoise.get_connection("default")
    if conn.capabilities.dialect == "postgres":
        # Ids as text[]: asyncpg has a codec for it, while uuid[] it would first look up
        # in the catalog on each connection (see models.infra.pooler.PooledConnection).
        await execute(
            conn,
            "UPDATE topup_orders AS o SET invoice_url = v.url "
            "FROM unnest($1::text[], $2::text[]) AS v(id, url) WHERE o.id = v.id::uuid",
            [str(order_id) for order_id in links],
            list(links.values()),
        )
        return
    await conn.execute_many(
        "UPDATE topup_orders SET invoice_url = ? WHERE id = ?",
        [[url, str(order_id)] for order_id, url in links.items()],
    )


async def fail_order(order_id: uuid.UUID, expires_at: datetime | None = None) -> None:
    """Mark an order whose invoice could not be created; nobody can pay it.

    With `expires_at`, only while the order still has that expiry: once it was given
    back to a second press (which pushes the expiry out), a link from that press may
    be paying it.
    """
    # An order whose pre-checkout was approved is being paid: whatever failed, never it.
    query = TopUpOrder.filter(id=order_id, status=OrderStatus.PENDING, checkout_at__isnull=True)
    if expires_at is not None:
        query = query.filter(expires_at=expires_at)
    await query.update(status=OrderStatus.FAILED)


async def mark_checkout(order_id: uuid.UUID, at: datetime | None = None) -> None:
    """Note that a pre-checkout for this order was approved: Telegram is taking the
    Stars, so pressing Buy again opens a new order instead of giving this one back."""
    await execute(
        Tortoise.get_connection("default"),
        "UPDATE topup_orders SET checkout_at = $1 WHERE id = $2 AND status = 'pending'",
        at or utcnow(),
        order_id,
    )


async def expire_orders(now: datetime | None = None) -> int:
    return await TopUpOrder.filter(
        status=OrderStatus.PENDING, expires_at__lte=now or utcnow()
    ).update(status=OrderStatus.EXPIRED)
