"""Posting to the ledger: the balance move and the row that explains it, in the
caller's transaction, with the row's event for the app's backend; and the entries
that carry no charge (development credits, manual adjustments)."""

from __future__ import annotations

import uuid

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models.events.outbox import event_args, event_insert
from models.infra.sql import execute
from models.kinds import Anomaly, EntryKind
from models.users import ensure_user
from models.values import utcnow


async def post(
    conn: BaseDBAsyncClient,
    user_id: int,
    amount: int,
    kind: EntryKind,
    *,
    source: str,
    order_id: uuid.UUID | None = None,
    charge_id: str | None = None,
    debit_id: uuid.UUID | None = None,
    gift_id: uuid.UUID | None = None,
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
    await insert_entry(
        conn,
        user_id,
        amount,
        kind,
        balance,
        source=source,
        order_id=order_id,
        charge_id=charge_id,
        debit_id=debit_id,
        gift_id=gift_id,
        anomaly=anomaly,
        note=note,
    )
    return balance


async def insert_entry(
    conn: BaseDBAsyncClient,
    user_id: int,
    amount: int,
    kind: EntryKind,
    balance_after: int,
    *,
    source: str,
    order_id: uuid.UUID | None = None,
    charge_id: str | None = None,
    debit_id: uuid.UUID | None = None,
    gift_id: uuid.UUID | None = None,
    anomaly: Anomaly | None = None,
    note: str | None = None,
) -> None:
    """The ledger row of a balance move just made in this transaction, and its event.

    Every ledger row is written here, so none can miss its event. `source` says what
    reported the change (`update`, `reconciliation`, `service`, …), for the event.
    """
    created_at = utcnow()
    # The gift column only when there is one: every other row's statement stays as it was.
    gift_column, gift_value = (", gift_id", ", $11") if gift_id is not None else ("", "")
    entry = (
        "INSERT INTO ledger_entries (user_id, amount, kind, order_id, "
        "telegram_payment_charge_id, debit_id, anomaly, note, stars_balance_after, created_at"
        f"{gift_column}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10{gift_value}) RETURNING id"
    )
    args = [
        user_id,
        amount,
        kind.value,
        order_id,
        charge_id,
        debit_id,
        anomaly.value if anomaly else None,
        note,
        balance_after,
        created_at,
    ]
    if gift_id is not None:
        args.append(gift_id)
    event = event_args(user_id, kind, source, created_at)
    dialect = conn.capabilities.dialect
    if dialect == "postgres":
        # Both rows in one statement: a round trip less on every payment's path.
        sql = f"WITH entry AS ({entry}) " + event_insert(
            "entry.id", len(args) + 1, dialect, from_clause=" FROM entry"
        )
        await execute(conn, sql, *args, *event)
        return
    _, rows = await execute(conn, entry, *args)
    await execute(conn, event_insert("$1", 2, dialect), rows[0]["id"], *event)


async def apply_entry(
    user_id: int,
    amount: int,
    kind: EntryKind,
    note: str | None = None,
    *,
    source: str | None = None,
) -> int:
    """A development credit or a manual adjustment; returns the new balance."""
    if kind not in (EntryKind.DEV_CREDIT, EntryKind.ADJUSTMENT):
        raise ValueError(
            "top-ups and refunds carry a charge id and debits a debit: use credit_charge, "
            "record_refund or debit"
        )
    source = source or ("development" if kind is EntryKind.DEV_CREDIT else "operator")
    async with in_transaction() as conn:
        await ensure_user(conn, user_id)
        return await post(conn, user_id, amount, kind, source=source, note=note)
