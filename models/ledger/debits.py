"""Spending a balance: debits keyed by the caller's idempotency key, and their reversals.

An app that shares the database and runs Python calls these directly; the HTTP
service (`api/service.py`) is a thin adapter over them.

- A debit never takes a balance below zero: the check and the move are one
  conditional `UPDATE … WHERE stars_balance >= amount`, so no number of concurrent
  debits passes it on either database. A balance already below zero (a refund
  Telegram reported after the Stars were spent) refuses every debit.
- One idempotency key makes at most one debit, whatever user it names: the key
  belongs to the calling app. The same key again with the same user, amount and
  reason gives the first result again (`replayed=True`: same debit, same balance
  after, `reversed=False`, even if it was reversed since); with anything else it is
  refused (`IDEMPOTENCY_KEY_REUSED`). A refusal records nothing, so after
  `INSUFFICIENT_BALANCE` the key may be used again.
- Requests racing with one key make one debit. The debit row (unique key) is the
  first write: on PostgreSQL a second insert of the key waits until the first
  transaction ends, then fails and answers with what committed; on SQLite the write
  lock orders them. Nothing here needs a session beyond one transaction.
- A reversal credits the amount back, once per debit, whatever the balance is now: a
  user below zero gets it all the same (it only raises the balance).
- Debits and reversals are ledger rows (`debit`, `debit_reversal`) with the balance
  after them, like every other balance change (`models.ledger.entries.post`).
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import Tortoise
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.infra import metrics
from models.infra.sql import as_datetime, execute
from models.kinds import EntryKind
from models.ledger.entries import insert_entry, post
from models.refusals import Refusal, Refused
from models.values import utcnow

MAX_AMOUNT = 1_000_000
MAX_REASON = 200
MAX_IDEMPOTENCY_KEY = 128


@dataclass(frozen=True, slots=True)
class DebitReceipt:
    """A debit as its answer states it (the `debits` row is `models.tables.Debit`):
    `stars_balance` is the user's balance right after the debit (for a reversal's
    answer: right after the reversal)."""

    id: uuid.UUID
    user_id: int
    amount: int
    reason: str
    created_at: datetime
    stars_balance: int
    reversed: bool


@dataclass(frozen=True, slots=True)
class DebitResult:
    debit: DebitReceipt
    replayed: bool  # True: the key had already made this debit; nothing changed now


@dataclass(frozen=True, slots=True)
class ReversalResult:
    debit: DebitReceipt
    reversed_now: bool  # False: it was reversed before; nothing changed now


def check_amount(amount: object) -> int:
    """A whole number of Stars, 1 to MAX_AMOUNT (a JSON integer: not "10", 10.0, true)."""
    if type(amount) is not int or not 1 <= amount <= MAX_AMOUNT:
        raise Refused(Refusal.INVALID_AMOUNT)
    return amount


def check_reason(reason: object) -> str:
    """1 to MAX_REASON characters of text: no control characters, no lone surrogates
    (neither can be stored as text on PostgreSQL, nor means anything in a history)."""
    if (
        not isinstance(reason, str)
        or not 1 <= len(reason) <= MAX_REASON
        or any(unicodedata.category(c) in ("Cc", "Cs") for c in reason)
    ):
        raise Refused(Refusal.INVALID_REASON)
    return reason


def check_idempotency_key(key: object) -> str:
    """1 to MAX_IDEMPOTENCY_KEY printable ASCII characters (space to tilde)."""
    if (
        not isinstance(key, str)
        or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY
        or not all(" " <= c <= "~" for c in key)
    ):
        raise Refused(Refusal.INVALID_IDEMPOTENCY_KEY)
    return key


_INSERT_DEBIT = (
    "INSERT INTO debits (id, user_id, amount, reason, idempotency_key, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6)"
)
_TAKE_ALONE = (
    "UPDATE users SET stars_balance = stars_balance - $1 "
    "WHERE id = $2 AND stars_balance >= $1 RETURNING stars_balance"
)
# The same move, after _INSERT_DEBIT in one statement on PostgreSQL: a debit is then
# four round trips (BEGIN, this, the ledger row with its event, COMMIT) instead of five;
# those round trips were most of a debit's time in the API (py-spy, issue 27).
_TAKE = (
    f"WITH debit AS ({_INSERT_DEBIT} RETURNING user_id, amount) "
    "UPDATE users SET stars_balance = users.stars_balance - debit.amount FROM debit "
    "WHERE users.id = debit.user_id AND users.stars_balance >= debit.amount "
    "RETURNING users.stars_balance"
)


class _BalanceShort(Exception):
    """Raised inside a transaction to roll it back."""


def _refused(refused: Refused) -> Refused:
    metrics.DEBIT_REFUSALS.labels(refused.code.value).inc()
    return refused


async def debit(
    user_id: int,
    amount: int,
    reason: str,
    idempotency_key: str,
    *,
    now: datetime | None = None,
    source: str = "service",
) -> DebitResult:
    """Take `amount` Stars from the user's balance, once per `idempotency_key`.

    Raises Refused: INVALID_AMOUNT, INVALID_REASON, INVALID_IDEMPOTENCY_KEY,
    USER_NOT_FOUND, INSUFFICIENT_BALANCE (nothing recorded, the key stays free) or
    IDEMPOTENCY_KEY_REUSED (the key made another debit). See the module docstring.
    """
    check_amount(amount)
    check_reason(reason)
    check_idempotency_key(idempotency_key)
    created_at = (now or utcnow()).astimezone(UTC)
    debit_id = uuid.uuid4()
    balance: int | None = None
    for attempt in range(2):
        try:
            balance = await _take(
                debit_id, user_id, amount, reason, idempotency_key, created_at, source
            )
            break
        except IntegrityError:
            # The key is taken (by now committed: a racing insert waited for it), or
            # the user did not exist when the debit's row was written (its foreign key).
            first = await _first_answer(idempotency_key)
            if first is not None:
                return _replay(first, user_id, amount, reason)
            if await _balance(user_id) is None:
                raise _refused(Refused(Refusal.USER_NOT_FOUND, user_id=user_id)) from None
            # No debit holds the key and the user exists now: their first sign-in or
            # top-up created them after the insert failed on the foreign key. Once
            # more; users are never deleted, so the key alone can clash this time.
            if attempt:
                raise
    if balance is None:
        current = await _balance(user_id)
        raise _refused(
            Refused(
                Refusal.INSUFFICIENT_BALANCE, user_id=user_id, amount=amount, balance=current or 0
            )
        )
    metrics.DEBITS.inc()
    metrics.DEBITED_STARS.inc(amount)
    return DebitResult(
        DebitReceipt(debit_id, user_id, amount, reason, created_at, balance, reversed=False),
        replayed=False,
    )


async def _take(
    debit_id: uuid.UUID,
    user_id: int,
    amount: int,
    reason: str,
    idempotency_key: str,
    created_at: datetime,
    source: str,
) -> int | None:
    """The debit's row, the balance move and its ledger row, in one transaction; the
    balance after, or None when it is short (then nothing is recorded)."""
    try:
        async with in_transaction() as conn:
            args = (debit_id, user_id, amount, reason, idempotency_key, created_at)
            if conn.capabilities.dialect == "postgres":
                # One statement, one round trip: the UPDATE reads the inserted row, so
                # the key's row is still written first (a racing insert of the key
                # waits and fails as before) and the balance move only follows it.
                _, rows = await execute(conn, _TAKE, *args)
            else:  # SQLite runs no INSERT inside WITH
                await execute(conn, _INSERT_DEBIT, *args)
                _, rows = await execute(conn, _TAKE_ALONE, amount, user_id)
            if not rows:
                raise _BalanceShort
            balance = int(rows[0]["stars_balance"])
            await insert_entry(
                conn, user_id, -amount, EntryKind.DEBIT, balance, source=source, debit_id=debit_id
            )
    except _BalanceShort:
        return None
    return balance


def _replay(first: DebitReceipt, user_id: int, amount: int, reason: str) -> DebitResult:
    if (first.user_id, first.amount, first.reason) != (user_id, amount, reason):
        raise _refused(Refused(Refusal.IDEMPOTENCY_KEY_REUSED, user_id=user_id, amount=amount))
    metrics.DEBIT_REPLAYS.inc()
    return DebitResult(first, replayed=True)


async def _balance(user_id: int) -> int | None:
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT stars_balance FROM users WHERE id = $1",
        user_id,
    )
    return int(rows[0]["stars_balance"]) if rows else None


def _debit_from(row: dict[str, Any], balance: int, *, reversed: bool) -> DebitReceipt:
    return DebitReceipt(
        uuid.UUID(str(row["id"])),
        int(row["user_id"]),
        int(row["amount"]),
        str(row["reason"]),
        as_datetime(row["created_at"]).astimezone(UTC),
        int(balance),
        reversed=reversed,
    )


async def _first_answer(idempotency_key: str) -> DebitReceipt | None:
    """The debit a key made, as its first answer stated it."""
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT d.id, d.user_id, d.amount, d.reason, d.created_at, l.stars_balance_after "
        "FROM debits AS d JOIN ledger_entries AS l ON l.debit_id = d.id AND l.kind = $1 "
        "WHERE d.idempotency_key = $2",
        EntryKind.DEBIT.value,
        idempotency_key,
    )
    if not rows:
        return None
    return _debit_from(rows[0], rows[0]["stars_balance_after"], reversed=False)


async def reverse_debit(
    debit_id: uuid.UUID,
    reason: str | None = None,
    *,
    now: datetime | None = None,
    source: str = "service",
) -> ReversalResult:
    """Give a debit's Stars back, once; raises Refused (DEBIT_NOT_FOUND, INVALID_REASON).

    The first call credits the amount (a `debit_reversal` ledger row) and marks the
    debit reversed; later calls change nothing and answer the same: the debit,
    `reversed=True` and the balance right after the reversal.
    """
    if reason is not None:
        check_reason(reason)
    async with in_transaction() as conn:
        # First statement a write: the debit's row stays locked until commit, so a
        # racing reversal waits here and then finds it reversed.
        _, rows = await execute(
            conn,
            "UPDATE debits SET reversed_at = $1, reversal_reason = $2 "
            "WHERE id = $3 AND reversed_at IS NULL "
            "RETURNING id, user_id, amount, reason, created_at",
            (now or utcnow()).astimezone(UTC),
            reason,
            debit_id,
        )
        if rows:
            balance = await post(
                conn,
                int(rows[0]["user_id"]),
                int(rows[0]["amount"]),
                EntryKind.DEBIT_REVERSAL,
                source=source,
                debit_id=debit_id,
            )
    if rows:
        metrics.DEBIT_REVERSALS.inc()
        return ReversalResult(_debit_from(rows[0], balance, reversed=True), reversed_now=True)
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT d.id, d.user_id, d.amount, d.reason, d.created_at, l.stars_balance_after "
        "FROM debits AS d JOIN ledger_entries AS l ON l.debit_id = d.id AND l.kind = $1 "
        "WHERE d.id = $2",
        EntryKind.DEBIT_REVERSAL.value,
        debit_id,
    )
    if not rows:
        raise Refused(Refusal.DEBIT_NOT_FOUND, debit_id=str(debit_id))
    return ReversalResult(
        _debit_from(rows[0], rows[0]["stars_balance_after"], reversed=True), reversed_now=False
    )
