"""The money rules. Every balance change in the system goes through this module
(debits and their reversals through `models.wallet`, on the same `_post` steps).

Each operation is one database transaction whose first statement is a write: on
SQLite that takes the write lock before anything is read (a deferred transaction
that reads first cannot wait for the lock and fails), and on PostgreSQL it locks
what the operation is about. Balances move only by relative updates in the same
transaction as the ledger row that explains them, and that row records the balance
after it (`stars_balance_after`), so each user's rows form a chain `check` verifies.

The balance moves first and its ledger row is written second: the user's row stays
locked (the database, on SQLite) until commit, so one user's rows take their ids in
the order their balances were taken, and the chain holds in id order. A unique key
violated by the ledger row (a charge or debit already posted) raises out of the
transaction block, which rolls everything back, the balance move included, on both
databases; callers catch it outside the block.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import metrics
from models.sql import as_datetime, execute
from models.tables import Anomaly, EntryKind, LedgerEntry, OrderStatus, TopUpOrder

XTR = "XTR"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Profile:
    """What Telegram tells us about a user."""

    id: int
    username: str | None = None
    first_name: str | None = None
    language_code: str | None = None


@dataclass(frozen=True, slots=True)
class Charge:
    """A payment Telegram took: from a successful_payment or from getStarTransactions."""

    charge_id: str
    payer_id: int
    amount: int
    payload: str
    currency: str = XTR


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


class RefundStatus(StrEnum):
    RECORDED = "recorded"
    ALREADY_RECORDED = "already_recorded"
    UNKNOWN_CHARGE = "unknown_charge"


@dataclass(frozen=True, slots=True)
class RefundResult:
    status: RefundStatus
    user_id: int | None = None
    amount: int = 0
    balance: int = 0


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


class RateLimited(Exception):
    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = max(1, retry_after)


def parse_order_id(payload: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(payload)
    except (ValueError, TypeError, AttributeError):
        return None


async def is_our_order(payload: str) -> bool:
    """Whether an invoice payload names one of our orders (anything else was sold by
    something else on this bot token, or forged)."""
    order_id = parse_order_id(payload)
    return order_id is not None and await TopUpOrder.exists(id=order_id)


async def _upsert_profile(conn: BaseDBAsyncClient, profile: Profile, now: datetime) -> None:
    await execute(
        conn,
        "INSERT INTO users (id, username, first_name, language_code, stars_balance, "
        "created_at, updated_at) VALUES ($1, $2, $3, $4, 0, $5, $6) ON CONFLICT (id) DO UPDATE "
        "SET username = excluded.username, first_name = excluded.first_name, "
        "language_code = excluded.language_code, updated_at = excluded.updated_at",
        profile.id,
        profile.username,
        profile.first_name,
        profile.language_code,
        now,
        now,
    )


async def upsert_user(profile: Profile) -> None:
    """Create the user or refresh its names; one statement, never touches the balance."""
    await _upsert_profile(Tortoise.get_connection("default"), profile, utcnow())


async def _ensure_user(conn: BaseDBAsyncClient, user_id: int) -> None:
    now = utcnow()
    await execute(
        conn,
        "INSERT INTO users (id, stars_balance, created_at, updated_at) VALUES ($1, 0, $2, $3) "
        "ON CONFLICT (id) DO NOTHING",
        user_id,
        now,
        now,
    )


async def _post(
    conn: BaseDBAsyncClient,
    user_id: int,
    amount: int,
    kind: EntryKind,
    *,
    order_id: uuid.UUID | None = None,
    charge_id: str | None = None,
    debit_id: uuid.UUID | None = None,
    anomaly: Anomaly | None = None,
    note: str | None = None,
) -> int:
    """Move the balance and write the ledger row that explains it; returns the new balance.

    The unique (charge, kind) and (debit, kind) keys make the insert fail for something
    already posted (see the module docstring for why the balance moves first).
    """
    _, rows = await execute(
        conn,
        "UPDATE users SET stars_balance = stars_balance + $1 WHERE id = $2 "
        "RETURNING stars_balance",
        amount,
        user_id,
    )
    balance = int(rows[0]["stars_balance"])
    await _insert_entry(
        conn,
        user_id,
        amount,
        kind,
        balance,
        order_id=order_id,
        charge_id=charge_id,
        debit_id=debit_id,
        anomaly=anomaly,
        note=note,
    )
    return balance


async def _insert_entry(
    conn: BaseDBAsyncClient,
    user_id: int,
    amount: int,
    kind: EntryKind,
    balance_after: int,
    *,
    order_id: uuid.UUID | None = None,
    charge_id: str | None = None,
    debit_id: uuid.UUID | None = None,
    anomaly: Anomaly | None = None,
    note: str | None = None,
) -> None:
    """The ledger row of a balance move just made in this transaction."""
    await execute(
        conn,
        "INSERT INTO ledger_entries (user_id, amount, kind, order_id, "
        "telegram_payment_charge_id, debit_id, anomaly, note, stars_balance_after, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        user_id,
        amount,
        kind.value,
        order_id,
        charge_id,
        debit_id,
        anomaly.value if anomaly else None,
        note,
        balance_after,
        utcnow(),
    )


async def _notify(
    conn: BaseDBAsyncClient, user_id: int, kind: str, charge_id: str, amount: int, balance: int
) -> None:
    now = utcnow()
    await execute(
        conn,
        "INSERT INTO notices (user_id, kind, telegram_payment_charge_id, amount, balance, "
        "attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
        user_id,
        kind,
        charge_id,
        amount,
        balance,
        now,
        now,
    )


async def get_balance(user_id: int) -> int:
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT stars_balance FROM users WHERE id = $1",
        user_id,
    )
    return int(rows[0]["stars_balance"]) if rows else 0


# ---------------------------------------------------------------- orders


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


def _rate_limit(
    recent: int, oldest_recent: datetime | str | None, per_minute: int, now: datetime
) -> RateLimited | None:
    """Refuse a new order past `per_minute`; the wait is until the oldest order of the
    window leaves it."""
    if recent < per_minute or oldest_recent is None:
        return None
    frees_at = as_datetime(oldest_recent) + timedelta(minutes=1)
    return RateLimited("too_many_requests", math.ceil((frees_at - now).total_seconds()))


# How long after an approved pre-checkout an order counts as being paid: Telegram
# completes or drops a payment within seconds, and a payment whose update was lost is
# credited by reconciliation within RECONCILE_INTERVAL (300 s by default).
PAYING_WINDOW = timedelta(minutes=15)

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
    """Give the buyer an order for `amount` to pay, or raise RateLimited.

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
            refusal = _rate_limit(row["o_recent"], row["o_oldest"], per_minute, now)
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
    await _upsert_profile(tx, user, now)
    paying_since = now - PAYING_WINDOW
    _, rows = await execute(tx, _REUSABLE_ORDER, user.id, now, paying_since, amount)
    if rows:
        reused = uuid.UUID(str(rows[0]["id"]))
        await execute(
            tx, "UPDATE topup_orders SET expires_at = $1 WHERE id = $2", expires_at, reused
        )
        return NewOrder(reused, amount, expires_at, rows[0]["invoice_url"], reused=True)
    _, rows = await execute(tx, _RECENT_ORDERS, user.id, now - timedelta(minutes=1))
    refusal = _rate_limit(rows[0]["recent"], rows[0]["oldest"], per_minute, now)
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
        await execute(
            conn,
            "UPDATE topup_orders AS o SET invoice_url = v.url "
            "FROM unnest($1::uuid[], $2::text[]) AS v(id, url) WHERE o.id = v.id",
            list(links),
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
    query = TopUpOrder.filter(id=order_id, status=OrderStatus.PENDING)
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


async def _order_terms(order_id: uuid.UUID) -> OrderTerms | None:
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
    order = await _order_terms(order_id)
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


# ---------------------------------------------------------------- credits


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
    notice: str | None = "credited",
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
    order = await _order_terms(order_id) if order_id is not None else None
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
                await _ensure_user(conn, charge.payer_id)
            balance = await _post(
                conn,
                charge.payer_id,
                stars,
                EntryKind.TOPUP,
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
                await _notify(conn, charge.payer_id, notice, charge.charge_id, stars, balance)
    except IntegrityError:
        existing = await find_topup(charge.charge_id)
        if existing is None:  # the violation was something else: let it be seen
            raise
        metrics.DUPLICATES.labels(source).inc()
        return CreditResult(
            CreditStatus.ALREADY_CREDITED,
            existing.amount,
            await get_balance(existing.user_id),
            parse_order_id(str(existing.order_id)) if existing.order_id else None,
            Anomaly(existing.anomaly) if existing.anomaly else None,
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


# ---------------------------------------------------------------- refunds


async def find_topup(charge_id: str) -> LedgerEntry | None:
    return await LedgerEntry.get_or_none(
        telegram_payment_charge_id=charge_id, kind=EntryKind.TOPUP
    )


async def record_refund(
    charge_id: str,
    *,
    user_id: int | None = None,
    amount: int | None = None,
    payload: str = "",
    currency: str = XTR,
    refunded_at: datetime | None = None,
    source: str = "update",
) -> RefundResult:
    """Record that Telegram returned a charge's Stars to its payer, once per charge.

    Reports of a refund come from the admin command, the refunded_payment message and
    reconciliation, in any order. A refund of a charge the ledger never saw (its
    payment update was lost) first records the payment, so the pair nets to zero.
    """
    refunded_at = refunded_at or utcnow()
    topup = await find_topup(charge_id)
    if topup is None:
        if user_id is None or amount is None:
            return RefundResult(RefundStatus.UNKNOWN_CHARGE)
        await credit_charge(
            Charge(charge_id, user_id, amount, payload, currency),
            notice=None,
            anomaly=Anomaly.REFUND_BEFORE_PAYMENT,
            source=source,
        )
        topup = await find_topup(charge_id)
        assert topup is not None
    try:
        async with in_transaction() as conn:
            order_id = parse_order_id(str(topup.order_id)) if topup.order_id else None
            balance = await _post(
                conn,
                topup.user_id,
                -topup.amount,
                EntryKind.REFUND,
                order_id=order_id,
                charge_id=charge_id,
            )
            if order_id is not None:
                await _mark_refunded(conn, topup, order_id, refunded_at)
            if topup.amount:  # a charge in another currency was never Stars here
                await _notify(conn, topup.user_id, "refunded", charge_id, topup.amount, balance)
    except IntegrityError:
        return RefundResult(
            RefundStatus.ALREADY_RECORDED,
            topup.user_id,
            topup.amount,
            await get_balance(topup.user_id),
        )
    metrics.REFUNDS.labels(source).inc()
    return RefundResult(RefundStatus.RECORDED, topup.user_id, topup.amount, balance)


async def _mark_refunded(
    conn: BaseDBAsyncClient, topup: LedgerEntry, order_id: uuid.UUID, refunded_at: datetime
) -> None:
    """Mark the order this charge paid as refunded.

    A refund that arrived before its payment (the payment update was lost) finds the
    order still unpaid: if the charge was its payer's, for its amount, the order
    takes the charge too, or it would stay payable and could be paid again. Any other
    charge that did not pay the order (a wrong amount, another currency) leaves it be.
    """
    charge_id = topup.telegram_payment_charge_id
    if topup.anomaly != Anomaly.REFUND_BEFORE_PAYMENT:
        await execute(
            conn,
            "UPDATE topup_orders SET status = $1, refunded_at = $2 "
            "WHERE id = $3 AND telegram_payment_charge_id = $4",
            OrderStatus.REFUNDED.value,
            refunded_at,
            order_id,
            charge_id,
        )
        return
    await execute(
        conn,
        "UPDATE topup_orders SET status = $1, refunded_at = $2, telegram_payment_charge_id = $3 "
        "WHERE id = $4 AND user_id = $5 AND amount = $6 AND telegram_payment_charge_id IS NULL "
        "AND status IN ('pending', 'expired', 'failed')",
        OrderStatus.REFUNDED.value,
        refunded_at,
        charge_id,
        order_id,
        topup.user_id,
        topup.amount,
    )


# ---------------------------------------------------------------- other entries


async def apply_entry(user_id: int, amount: int, kind: EntryKind, note: str | None = None) -> int:
    """A development credit or a manual adjustment; returns the new balance."""
    if kind in (EntryKind.TOPUP, EntryKind.REFUND):
        raise ValueError("top-ups and refunds carry a charge id: use credit_charge/record_refund")
    async with in_transaction() as conn:
        await _ensure_user(conn, user_id)
        return await _post(conn, user_id, amount, kind, note=note)
