"""Spending a balance: debits keyed by the caller's idempotency key, and their reversals.

An app that shares the database and runs Python calls these directly; the HTTP
service (`api/service.py`) is a thin adapter over them.

- A debit never takes a balance below zero: the check and the move are one
  conditional `UPDATE … WHERE stars_balance >= amount`, so no number of concurrent
  debits passes it on either database. A balance already below zero (a refund
  Telegram reported after the Stars were spent) refuses every debit.
- One idempotency key makes at most one debit within the retention period, whatever
  user it names: the key belongs to the calling app (`models.idempotency`, scope
  "debit"). The same key again with the same user, amount and reason gives the first
  result again (`replayed=True`: same debit, same balance after, `reversed=False`,
  even if it was reversed since); with anything else it is refused
  (`IDEMPOTENCY_KEY_REUSED`). A refusal records nothing, so after
  `INSUFFICIENT_BALANCE` the key may be used again. After the retention period the
  key is a new request; the debit it made stays.
- Requests racing with one key make one debit: the key is claimed in a statement of
  its own before the debit's transaction, and a twin arriving meanwhile is refused at
  once (`IDEMPOTENCY_KEY_IN_FLIGHT`, ask again) instead of waiting on a lock.
- A reversal credits the amount back, once per debit, whatever the balance is now: a
  user below zero gets it all the same (it only raises the balance).
- Debits and reversals are ledger rows (`debit`, `debit_reversal`) with the balance
  after them, like every other balance change (`models.ledger.entries.post`).
"""

from __future__ import annotations

import contextlib
import json
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import Tortoise
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models import idempotency
from models.idempotency import DEFAULT_RETENTION
from models.infra import metrics
from models.infra.sql import as_datetime, execute
from models.kinds import EntryKind
from models.ledger.entries import insert_entry, post
from models.queries.accounts import find_balance
from models.refusals import Refusal, Refused
from models.values import utcnow

MAX_AMOUNT = 1_000_000
MAX_REASON = 200
MAX_IDEMPOTENCY_KEY = 128
DEBIT_SCOPE = "debit"  # the debits' keys in models.idempotency


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
# The same move, after _INSERT_DEBIT in one statement on PostgreSQL: one round trip
# fewer in the debit's transaction (BEGIN, the key's completion, this, the ledger row
# with its event, COMMIT);
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


def fingerprint(user_id: int, amount: int, reason: str) -> str:
    """A debit request, canonically: a key used again must come with the same one."""
    return json.dumps([user_id, amount, reason], ensure_ascii=False, separators=(",", ":"))


async def debit(
    user_id: int,
    amount: int,
    reason: str,
    idempotency_key: str,
    *,
    now: datetime | None = None,
    source: str = "service",
    retention: timedelta = DEFAULT_RETENTION,
) -> DebitResult:
    """Take `amount` Stars from the user's balance, once per `idempotency_key` within
    `retention` (IDEMPOTENCY_KEY_RETENTION_HOURS).

    Raises Refused: INVALID_AMOUNT, INVALID_REASON, INVALID_IDEMPOTENCY_KEY,
    USER_NOT_FOUND, INSUFFICIENT_BALANCE (nothing recorded, the key stays free),
    IDEMPOTENCY_KEY_REUSED (the key was used with another user, amount or reason) or
    IDEMPOTENCY_KEY_IN_FLIGHT (its first request is still being worked on). See the
    module docstring and `models.idempotency`.
    """
    check_amount(amount)
    check_reason(reason)
    check_idempotency_key(idempotency_key)
    created_at = (now or utcnow()).astimezone(UTC)
    try:
        begun = await idempotency.begin(
            DEBIT_SCOPE,
            idempotency_key,
            fingerprint(user_id, amount, reason),
            now=created_at,
            retention=retention,
        )
    except Refused as refused:
        raise _refused(refused) from None
    if isinstance(begun, idempotency.Completed):
        first = await _first_answer(uuid.UUID(begun.result))
        if first is None:  # a debit is never deleted; a row changed by hand
            raise RuntimeError(f"idempotency key {idempotency_key!r} names no debit")
        metrics.DEBIT_REPLAYS.inc()
        return DebitResult(first, replayed=True)
    debit_id = uuid.uuid4()
    try:
        balance = await _take(
            begun, debit_id, user_id, amount, reason, idempotency_key, created_at, source
        )
    except IntegrityError:
        # The user did not exist when the debit's row was written (its foreign key).
        await idempotency.release(begun)
        raise _refused(Refused(Refusal.USER_NOT_FOUND, user_id=user_id)) from None
    except idempotency.ClaimLost:
        # This request took longer than its claim, and a twin has the key now: the
        # debit rolled back, and the twin's answer is the key's.
        raise _refused(
            Refused(
                Refusal.IDEMPOTENCY_KEY_IN_FLIGHT, retry_after=idempotency.IN_FLIGHT_RETRY_AFTER
            )
        ) from None
    except BaseException:
        # Nothing was recorded (the transaction rolled back): free the key at once
        # rather than leave a twin a 409 until the claim lapses.
        with contextlib.suppress(Exception):
            await idempotency.release(begun)
        raise
    if balance is None:
        await idempotency.release(begun)
        current = await find_balance(user_id)
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
    claim: idempotency.Claim,
    debit_id: uuid.UUID,
    user_id: int,
    amount: int,
    reason: str,
    idempotency_key: str,
    created_at: datetime,
    source: str,
) -> int | None:
    """The key's result, the debit's row, the balance move and its ledger row, in one
    transaction; the balance after, or None when it is short (then nothing is
    recorded)."""
    try:
        async with in_transaction() as conn:
            await idempotency.complete(conn, claim, str(debit_id))
            args = (debit_id, user_id, amount, reason, idempotency_key, created_at)
            if conn.capabilities.dialect == "postgres":
                # One statement, one round trip: the UPDATE reads the inserted row, so
                # the debit's row is written first and the balance move only follows it.
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


async def _first_answer(debit_id: uuid.UUID) -> DebitReceipt | None:
    """A debit as its first answer stated it."""
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT d.id, d.user_id, d.amount, d.reason, d.created_at, l.stars_balance_after "
        "FROM debits AS d JOIN ledger_entries AS l ON l.debit_id = d.id AND l.kind = $1 "
        "WHERE d.id = $2",
        EntryKind.DEBIT.value,
        debit_id,
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
