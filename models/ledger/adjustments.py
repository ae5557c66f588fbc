"""Manual corrections of a balance, with an audit trail: who made one and why.

An adjustment is an `adjustment` ledger row like any other balance change (the balance
moves by a relative update in its transaction, the row records the balance after it,
its event goes to the app's backend) plus an `adjustments` row naming the operator (or
the service key's label) and the reason. `check` sees only the ledger row, so it holds
adjustments to the same chain and sums as every other row.

- A negative adjustment never takes a balance below zero unless `allow_negative`: the
  check and the move are one conditional UPDATE, as for a debit. A positive one always
  passes (it only raises a balance, even one below zero), as a debit's reversal does.
- With an idempotency key (the service endpoint always sends one), one key makes at
  most one adjustment: the same key again with the same user, amount and reason
  answers the first adjustment (`replayed=True`); with anything else it is refused
  (`IDEMPOTENCY_KEY_REUSED`). A refusal records nothing, so the key stays free.
- The user must exist: a mistyped id is refused, never a new user.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import Tortoise
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.infra.sql import as_datetime, execute
from models.kinds import EntryKind
from models.ledger.debits import MAX_AMOUNT, check_idempotency_key, check_reason
from models.ledger.entries import insert_entry
from models.queries.accounts import find_balance
from models.refusals import Refusal, Refused
from models.values import utcnow

MAX_ACTOR = 64


@dataclass(frozen=True, slots=True)
class AdjustmentReceipt:
    id: uuid.UUID
    user_id: int
    amount: int
    reason: str
    actor: str
    created_at: datetime
    stars_balance: int  # right after the adjustment
    entry_id: int


@dataclass(frozen=True, slots=True)
class AdjustmentResult:
    adjustment: AdjustmentReceipt
    replayed: bool  # True: the key had already made this one; nothing changed now


def check_adjustment_amount(amount: object) -> int:
    """A whole number of Stars other than zero, at most MAX_AMOUNT either way."""
    if type(amount) is not int or amount == 0 or abs(amount) > MAX_AMOUNT:
        raise Refused(Refusal.INVALID_ADJUSTMENT)
    return amount


def check_actor(actor: str) -> str:
    """Who made it: 1 to MAX_ACTOR printable characters (the CLI and settings check
    theirs; this is the core's own guard)."""
    if not 1 <= len(actor) <= MAX_ACTOR or not actor.isprintable():
        raise ValueError(f"an adjustment's actor must be 1 to {MAX_ACTOR} printable characters")
    return actor


class _Short(Exception):
    """Raised inside the transaction to roll it back."""


async def adjust(
    user_id: int,
    amount: int,
    reason: str,
    actor: str,
    *,
    idempotency_key: str | None = None,
    allow_negative: bool = False,
    source: str = "operator",
    now: datetime | None = None,
) -> AdjustmentResult:
    """Move the user's balance by `amount` with an `adjustment` ledger row.

    Raises Refused: INVALID_ADJUSTMENT, INVALID_REASON, INVALID_IDEMPOTENCY_KEY,
    USER_NOT_FOUND, INSUFFICIENT_BALANCE (it would go below zero; nothing recorded) or
    IDEMPOTENCY_KEY_REUSED.
    """
    check_adjustment_amount(amount)
    check_reason(reason)
    check_actor(actor)
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
    created_at = (now or utcnow()).astimezone(UTC)
    adjustment_id = uuid.uuid4()
    try:
        async with in_transaction() as conn:
            # First statement a write (SQLite's lock; the user's row on PostgreSQL).
            # A credit ($1 > 0) only raises the balance, so it passes even below zero.
            _, rows = await execute(
                conn,
                "UPDATE users SET stars_balance = stars_balance + $1 WHERE id = $2 "
                "AND ($1 > 0 OR stars_balance + $1 >= 0 OR $3) RETURNING stars_balance",
                amount,
                user_id,
                allow_negative,
            )
            if not rows:
                raise _Short
            balance = int(rows[0]["stars_balance"])
            await insert_entry(
                conn, user_id, amount, EntryKind.ADJUSTMENT, balance, source=source, note=reason
            )
            # The user's row is held until commit, so their newest row is the one above.
            _, entry = await execute(
                conn, "SELECT MAX(id) AS id FROM ledger_entries WHERE user_id = $1", user_id
            )
            entry_id = int(entry[0]["id"])
            # The key's uniqueness is checked last: a racing request with the same key
            # waits here for this transaction, then fails and answers what committed.
            await execute(
                conn,
                "INSERT INTO adjustments (id, entry_id, user_id, amount, reason, actor, "
                "idempotency_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                adjustment_id,
                entry_id,
                user_id,
                amount,
                reason,
                actor,
                idempotency_key,
                created_at,
            )
    except _Short:
        current = await find_balance(user_id)
        if current is None:
            raise Refused(Refusal.USER_NOT_FOUND, user_id=user_id) from None
        raise Refused(
            Refusal.INSUFFICIENT_BALANCE, user_id=user_id, amount=-amount, balance=current
        ) from None
    except IntegrityError:
        first = await _by_key(idempotency_key) if idempotency_key is not None else None
        if first is None:
            raise
        if (first.user_id, first.amount, first.reason) != (user_id, amount, reason):
            raise Refused(Refusal.IDEMPOTENCY_KEY_REUSED, user_id=user_id, amount=amount) from None
        return AdjustmentResult(first, replayed=True)
    receipt = AdjustmentReceipt(
        adjustment_id, user_id, amount, reason, actor, created_at, balance, entry_id
    )
    return AdjustmentResult(receipt, replayed=False)


def _receipt(row: dict[str, Any]) -> AdjustmentReceipt:
    return AdjustmentReceipt(
        uuid.UUID(str(row["id"])),
        int(row["user_id"]),
        int(row["amount"]),
        str(row["reason"]),
        str(row["actor"]),
        as_datetime(row["created_at"]).astimezone(UTC),
        int(row["stars_balance_after"]),
        int(row["entry_id"]),
    )


_SELECT = (
    "SELECT a.id, a.user_id, a.amount, a.reason, a.actor, a.created_at, a.entry_id, "
    "l.stars_balance_after FROM adjustments AS a JOIN ledger_entries AS l ON l.id = a.entry_id "
)


async def _by_key(idempotency_key: str) -> AdjustmentReceipt | None:
    _, rows = await execute(
        Tortoise.get_connection("default"),
        _SELECT + "WHERE a.idempotency_key = $1",
        idempotency_key,
    )
    return _receipt(rows[0]) if rows else None


async def adjustments_of(user_id: int, limit: int = 50) -> list[AdjustmentReceipt]:
    """The user's adjustments, newest first: the audit trail."""
    _, rows = await execute(
        Tortoise.get_connection("default"),
        _SELECT + "WHERE a.user_id = $1 ORDER BY a.entry_id DESC LIMIT $2",
        user_id,
        limit,
    )
    return [_receipt(row) for row in rows]
