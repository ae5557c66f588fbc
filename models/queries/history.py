"""The read side of the ledger: its rows as values, and a user's ledger newest first, a
page at a time. Nothing here writes.

Each ledger row carries the balance right after it, so a page is a statement on its
own. Pages are keyed by entry id (the order of each user's chain, see
`models.ledger`): the cursor `next` is the id of the page's last entry, and a new
entry never shifts the pages behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import Tortoise

from models.infra.sql import as_datetime, execute
from models.kinds import EntryKind

DEFAULT_PAGE = 50
MAX_PAGE = 100
_MAX_ID = 2**63 - 1


class InvalidCursor(ValueError):
    """A `before` cursor this module did not give out."""


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """One ledger row and what it came from (None where that does not apply)."""

    id: int
    user_id: int
    kind: EntryKind
    amount: int  # signed: credits are positive
    stars_balance_after: int
    created_at: datetime
    order_id: str | None
    charge_id: str | None
    debit_id: str | None
    idempotency_key: str | None
    reason: str | None  # the debit's reason, or the reversal's
    anomaly: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class LedgerPage:
    entries: list[LedgerLine]
    next: str | None  # pass as `before` for the next (older) page; None: no more


def parse_cursor(cursor: str) -> int:
    """The entry id a cursor stands for; raises InvalidCursor."""
    if not (cursor.isascii() and cursor.isdigit() and 0 < len(cursor) <= 19):
        raise InvalidCursor(cursor)
    value = int(cursor)
    if not 0 < value <= _MAX_ID:
        raise InvalidCursor(cursor)
    return value


_SELECT = (
    "SELECT l.id, l.user_id, l.kind, l.amount, l.stars_balance_after, l.created_at, "
    "l.order_id, l.telegram_payment_charge_id, l.debit_id, l.anomaly, l.note, "
    "d.idempotency_key, "
    f"CASE WHEN l.kind = '{EntryKind.DEBIT_REVERSAL.value}' THEN d.reversal_reason "
    "ELSE d.reason END AS reason "
    "FROM ledger_entries AS l LEFT JOIN debits AS d ON d.id = l.debit_id"
)


async def ledger_lines(
    condition: str, *args: object, order: str = "l.id", limit: int | None = None
) -> list[LedgerLine]:
    """The ledger rows (`l`, joined with their debit `d`) that meet `condition`, whose
    parameters are `args` ($1, $2, …), in `order`."""
    sql = f"{_SELECT} WHERE {condition} ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT ${len(args) + 1}"
        args = (*args, limit)
    _, rows = await execute(Tortoise.get_connection("default"), sql, *args)
    return [_line(row) for row in rows]


def _line(row: dict[str, Any]) -> LedgerLine:
    return LedgerLine(
        int(row["id"]),
        int(row["user_id"]),
        EntryKind(row["kind"]),
        int(row["amount"]),
        int(row["stars_balance_after"]),
        as_datetime(row["created_at"]).astimezone(UTC),
        _text(row["order_id"]),
        row["telegram_payment_charge_id"],
        _text(row["debit_id"]),
        row["idempotency_key"],
        row["reason"],
        row["anomaly"],
        row["note"],
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)  # UUIDs: objects on PostgreSQL, text on SQLite


async def ledger_page(
    user_id: int, *, limit: int = DEFAULT_PAGE, before: str | None = None
) -> LedgerPage:
    """The user's ledger entries older than `before` (all when None), newest first.

    `limit` is 1 to MAX_PAGE (ValueError otherwise); a cursor not given out here
    raises InvalidCursor. An unknown user simply has no entries.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1 to {MAX_PAGE}")
    below = parse_cursor(before) if before is not None else _MAX_ID
    entries = await ledger_lines(
        "l.user_id = $1 AND l.id < $2", user_id, below, order="l.id DESC", limit=limit + 1
    )
    more = len(entries) > limit
    entries = entries[:limit]
    return LedgerPage(entries, str(entries[-1].id) if more else None)
