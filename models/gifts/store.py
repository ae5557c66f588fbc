"""Gift and Premium purchases in the database: the debit and the outbox row in one
transaction, the sender's claims, and the ends (sent, or failed with the Stars back).

- `buy` writes the purchase's row first (its idempotency key unique, like a debit's:
  racing requests with one key make one purchase, the later ones answered with it),
  then takes the Stars (`UPDATE … WHERE stars_balance >= price`, never below zero)
  and writes the ledger row (`gift` or `premium`), all in one transaction. Nothing is
  recorded when it refuses, so the key may be used again.
- `claim_due` marks an attempt begun (and commits it) before the sender calls
  Telegram: a purchase whose attempt began is never claimed again. Only a 429, which
  tells that Telegram did nothing, gives it back (`flood_wait`).
- `mark_sent` / `fail` end a pending purchase once, whoever gets there first: `sent`
  writes a zero-amount `gift_sent` ledger row (its event is `gift.sent`), `failed`
  gives the Stars back (`gift_reversal`, event `gift.failed`). The (gift_id, kind)
  key makes each at most once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.gifts.rules import Item, Recipient, Unsettled
from models.infra import metrics
from models.infra.sql import as_datetime, execute
from models.kinds import EntryKind, GiftKind, GiftState
from models.ledger.debits import check_idempotency_key
from models.ledger.entries import insert_entry, post
from models.refusals import Refusal, Refused
from models.values import utcnow

# When the bot's own Stars are short, ask the caller to come back this much later.
BOT_BALANCE_RETRY = 60
# A purchase Telegram answered True to is matched to its ledger row for this long;
# after that it is listed as unsettled for the operator, and no longer looked for.
ROW_LOOKUP = timedelta(days=1)
# How a purchase failed for want of its ledger row begins its failure_reason.
NOT_IN_LEDGER = "no purchase in Telegram's ledger"
_COLUMNS = (
    "id, user_id, kind, to_user_id, to_chat_id, telegram_gift_id, premium_months, "
    "pay_for_upgrade, star_count, text, state, idempotency_key, created_at, "
    "attempt_started_at, attempts, transaction_id, failure_reason, finished_at"
)


@dataclass(frozen=True, slots=True)
class GiftRequest:
    user_id: int
    item: Item
    to: Recipient
    star_count: int
    idempotency_key: str
    text: str | None = None
    pay_for_upgrade: bool = False


@dataclass(frozen=True, slots=True)
class GiftRecord:
    id: uuid.UUID
    user_id: int
    item: Item
    to: Recipient
    star_count: int
    text: str | None
    pay_for_upgrade: bool
    state: GiftState
    idempotency_key: str
    created_at: datetime
    attempt_started_at: datetime | None
    attempts: int
    transaction_id: str | None
    failure_reason: str | None
    finished_at: datetime | None

    def same_request(self, request: GiftRequest) -> bool:
        """The key sent again with the same purchase (the price may have moved since)."""
        return (
            self.user_id,
            self.item,
            self.to,
            self.text,
            self.pay_for_upgrade,
        ) == (request.user_id, request.item, request.to, request.text, request.pay_for_upgrade)

    def unsettled(self) -> Unsettled:
        assert self.attempt_started_at is not None
        return Unsettled(
            str(self.id),
            self.to.key,
            self.item.key,
            self.star_count,
            self.attempt_started_at,
            sent=self.state is GiftState.SENT,
        )


@dataclass(frozen=True, slots=True)
class Bought:
    gift: GiftRecord
    replayed: bool  # the key had made this purchase already; nothing changed now
    stars_balance: int | None = None  # the buyer's balance right after the debit


def _db() -> BaseDBAsyncClient:
    return Tortoise.get_connection("default")


def _maybe_time(value: Any) -> datetime | None:
    return as_datetime(value).astimezone(UTC) if value is not None else None


def record_of(row: dict[str, Any]) -> GiftRecord:
    kind = GiftKind(row["kind"])
    months = row["premium_months"]
    item = Item(kind, row["telegram_gift_id"], int(months) if months is not None else None)
    to_user, to_chat = row["to_user_id"], row["to_chat_id"]
    return GiftRecord(
        id=uuid.UUID(str(row["id"])),
        user_id=int(row["user_id"]),
        item=item,
        to=Recipient(
            int(to_user) if to_user is not None else None,
            int(to_chat) if to_chat is not None else None,
        ),
        star_count=int(row["star_count"]),
        text=row["text"],
        pay_for_upgrade=bool(row["pay_for_upgrade"]),
        state=GiftState(row["state"]),
        idempotency_key=str(row["idempotency_key"]),
        created_at=as_datetime(row["created_at"]).astimezone(UTC),
        attempt_started_at=_maybe_time(row["attempt_started_at"]),
        attempts=int(row["attempts"]),
        transaction_id=row["transaction_id"],
        failure_reason=row["failure_reason"],
        finished_at=_maybe_time(row["finished_at"]),
    )


async def get_gift(gift_id: uuid.UUID) -> GiftRecord | None:
    _, rows = await execute(_db(), f"SELECT {_COLUMNS} FROM gifts WHERE id = $1", gift_id)
    return record_of(rows[0]) if rows else None


async def _by_key(key: str) -> GiftRecord | None:
    _, rows = await execute(_db(), f"SELECT {_COLUMNS} FROM gifts WHERE idempotency_key = $1", key)
    return record_of(rows[0]) if rows else None


async def pending_stars(sent_since: datetime | None = None) -> int:
    """Stars our pending purchases may still take from the bot's own balance, plus
    (with `sent_since`: when that balance was read) what purchases sent since took."""
    if sent_since is None:
        _, rows = await execute(
            _db(),
            "SELECT COALESCE(SUM(star_count), 0) AS total FROM gifts WHERE state = 'pending'",
        )
    else:
        _, rows = await execute(
            _db(),
            "SELECT COALESCE(SUM(star_count), 0) AS total FROM gifts WHERE state = 'pending' "
            "OR (state = 'sent' AND finished_at >= $1)",
            sent_since.astimezone(UTC),
        )
    return int(rows[0]["total"])


def _replay(first: GiftRecord, request: GiftRequest) -> Bought:
    if not first.same_request(request):
        raise Refused(Refusal.IDEMPOTENCY_KEY_REUSED, user_id=request.user_id)
    return Bought(first, replayed=True)


class _Short(Exception):
    """Raised inside the transaction to roll it back: the balance does not cover it."""


async def buy(
    request: GiftRequest,
    *,
    bot_balance: int | None = None,
    balance_read_at: datetime | None = None,
    now: datetime | None = None,
) -> Bought:
    """Debit the buyer and queue the purchase, once per idempotency key.

    `bot_balance`: the bot's own Stars (getMyStarBalance) when known, read at
    `balance_read_at`; our pending purchases, and those sent since it was read, must
    leave room for this one in it, or BOT_BALANCE_LOW with nothing recorded.
    Raises Refused: INVALID_IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_REUSED, BOT_BALANCE_LOW,
    USER_NOT_FOUND, INSUFFICIENT_BALANCE.
    """
    check_idempotency_key(request.idempotency_key)
    first = await _by_key(request.idempotency_key)
    if first is not None:  # a retry is answered before any new check can refuse it
        return _replay(first, request)
    if bot_balance is not None:
        pending = await pending_stars(balance_read_at)
        if bot_balance - pending < request.star_count:
            metrics.GIFT_REFUSALS.labels("bot_balance_low").inc()
            raise Refused(
                Refusal.BOT_BALANCE_LOW,
                bot_balance=bot_balance,
                amount=request.star_count,
                retry_after=BOT_BALANCE_RETRY,
            )
    created_at = (now or utcnow()).astimezone(UTC)
    gift_id = uuid.uuid4()
    try:
        balance = await _take(gift_id, request, created_at)
    except IntegrityError:
        # The key is taken (a racing insert committed it), or the user does not exist.
        first = await _by_key(request.idempotency_key)
        if first is not None:
            return _replay(first, request)
        raise Refused(Refusal.USER_NOT_FOUND, user_id=request.user_id) from None
    except _Short:
        _, rows = await execute(
            _db(), "SELECT stars_balance FROM users WHERE id = $1", request.user_id
        )
        if not rows:
            raise Refused(Refusal.USER_NOT_FOUND, user_id=request.user_id) from None
        raise Refused(
            Refusal.INSUFFICIENT_BALANCE,
            user_id=request.user_id,
            amount=request.star_count,
            balance=int(rows[0]["stars_balance"]),
        ) from None
    metrics.GIFTS_REQUESTED.labels(request.item.kind.value).inc()
    record = await get_gift(gift_id)
    assert record is not None
    return Bought(record, replayed=False, stars_balance=balance)


async def _take(gift_id: uuid.UUID, request: GiftRequest, created_at: datetime) -> int:
    item, to = request.item, request.to
    async with in_transaction() as conn:
        # First a write: on SQLite it takes the write lock; on PostgreSQL a second
        # insert of the key waits for the first transaction, then fails.
        await execute(
            conn,
            "INSERT INTO gifts (id, user_id, kind, to_user_id, to_chat_id, telegram_gift_id, "
            "premium_months, pay_for_upgrade, star_count, text, state, idempotency_key, "
            "created_at, next_attempt_at, attempts) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $12, $12, 0)",
            gift_id,
            request.user_id,
            item.kind.value,
            to.user_id,
            to.chat_id,
            item.gift_id,
            item.months,
            request.pay_for_upgrade,
            request.star_count,
            request.text,
            request.idempotency_key,
            created_at,
        )
        _, rows = await execute(
            conn,
            "UPDATE users SET stars_balance = stars_balance - $1 "
            "WHERE id = $2 AND stars_balance >= $1 RETURNING stars_balance",
            request.star_count,
            request.user_id,
        )
        if not rows:
            raise _Short
        balance = int(rows[0]["stars_balance"])
        kind = EntryKind.GIFT if item.kind is GiftKind.GIFT else EntryKind.PREMIUM
        await insert_entry(
            conn,
            request.user_id,
            -request.star_count,
            kind,
            balance,
            source="service",
            gift_id=gift_id,
        )
    return balance


# ------------------------------------------------------------------ the sender's side


async def claim_due(now: datetime, limit: int) -> list[GiftRecord]:
    """Begin an attempt on up to `limit` purchases due by `now`: each is then this
    caller's to send, once. The outer conditions repeat the inner ones, so a
    PostgreSQL update that waited for another claimer skips what it claimed."""
    _, due = await execute(
        _db(),
        "SELECT id FROM gifts WHERE state = 'pending' AND attempt_started_at IS NULL "
        "AND next_attempt_at <= $1 LIMIT 1",
        now,
    )
    if not due:  # the usual idle pass: a read, so SQLite's write lock is left alone
        return []
    _, rows = await execute(
        _db(),
        "UPDATE gifts SET attempt_started_at = $1, attempts = attempts + 1, "
        "next_attempt_at = NULL WHERE id IN ("
        "SELECT id FROM gifts WHERE state = 'pending' AND attempt_started_at IS NULL "
        "AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2"
        ") AND state = 'pending' AND attempt_started_at IS NULL "
        f"RETURNING {_COLUMNS}",
        now,
        limit,
    )
    return sorted((record_of(row) for row in rows), key=lambda gift: gift.created_at)


async def flood_wait(gift: GiftRecord, until: datetime) -> bool:
    """Telegram answered 429: nothing was done, so the attempt is given back, due
    again at `until`. Only the attempt this caller began (by its count)."""
    count, _ = await execute(
        _db(),
        "UPDATE gifts SET attempt_started_at = NULL, next_attempt_at = $1 "
        "WHERE id = $2 AND state = 'pending' AND attempts = $3",
        until,
        gift.id,
        gift.attempts,
    )
    return count == 1


async def mark_sent(
    gift_id: uuid.UUID, transaction_id: str | None, *, how: str, now: datetime | None = None
) -> bool:
    """A pending purchase went out (Telegram said True, or its row is in the ledger);
    False if it had ended already. Raises IntegrityError if the row is another's."""
    async with in_transaction() as conn:
        _, rows = await execute(
            conn,
            "UPDATE gifts SET state = 'sent', finished_at = $1, transaction_id = $2 "
            "WHERE id = $3 AND state = 'pending' RETURNING user_id",
            (now or utcnow()).astimezone(UTC),
            transaction_id,
            gift_id,
        )
        if rows:
            await post(
                conn,
                int(rows[0]["user_id"]),
                0,
                EntryKind.GIFT_SENT,
                source="gifts",
                gift_id=gift_id,
            )
    if rows:
        metrics.GIFTS_SENT.labels(how).inc()
    return bool(rows)


async def fail(
    gift_id: uuid.UUID, reason: str, *, label: str, now: datetime | None = None
) -> bool:
    """A pending purchase did not happen: it fails and its Stars go back, once.
    False if it had ended already."""
    async with in_transaction() as conn:
        _, rows = await execute(
            conn,
            "UPDATE gifts SET state = 'failed', finished_at = $1, failure_reason = $2 "
            "WHERE id = $3 AND state = 'pending' RETURNING user_id, star_count",
            (now or utcnow()).astimezone(UTC),
            reason[:500],
            gift_id,
        )
        if rows:
            await post(
                conn,
                int(rows[0]["user_id"]),
                int(rows[0]["star_count"]),
                EntryKind.GIFT_REVERSAL,
                source="gifts",
                gift_id=gift_id,
            )
    if rows:
        metrics.GIFTS_FAILED.labels(label).inc()
    return bool(rows)


async def attach_row(gift_id: uuid.UUID, transaction_id: str) -> bool:
    """The ledger row of a purchase Telegram had answered True to."""
    count, _ = await execute(
        _db(),
        "UPDATE gifts SET transaction_id = $1 WHERE id = $2 AND state = 'sent' "
        "AND transaction_id IS NULL",
        transaction_id,
        gift_id,
    )
    return count == 1


async def unsettled(now: datetime) -> list[GiftRecord]:
    """Purchases that need their ledger row: attempts with no outcome, and recent ones
    Telegram answered True to whose row is not known yet. (A purchase marked sent by
    hand with no attempt has nothing to date its row by: it is not looked for.)"""
    _, rows = await execute(
        _db(),
        f"SELECT {_COLUMNS} FROM gifts WHERE attempt_started_at IS NOT NULL AND ("
        "state = 'pending' OR (state = 'sent' AND transaction_id IS NULL AND finished_at >= $1)"
        ") ORDER BY attempt_started_at",
        (now - ROW_LOOKUP).astimezone(UTC),
    )
    return [record_of(row) for row in rows]


async def failed_lately(now: datetime) -> list[GiftRecord]:
    """Purchases failed in the last day after an attempt began, with no ledger row: a row
    of theirs that appears after all (later than the window) is a purchase Telegram made
    after the Stars went back."""
    _, rows = await execute(
        _db(),
        f"SELECT {_COLUMNS} FROM gifts WHERE state = 'failed' AND transaction_id IS NULL "
        "AND attempt_started_at IS NOT NULL AND finished_at >= $1 "
        "AND failure_reason LIKE $2 ORDER BY attempt_started_at",
        (now - ROW_LOOKUP).astimezone(UTC),
        NOT_IN_LEDGER + "%",
    )
    return [record_of(row) for row in rows]


async def note_late_row(gift_id: uuid.UUID, transaction_id: str) -> bool:
    """Record the row of a purchase made after it was failed (it stays failed: the
    buyer has the Stars back and the recipient has the gift; the operator decides)."""
    count, _ = await execute(
        _db(),
        "UPDATE gifts SET transaction_id = $1 WHERE id = $2 AND state = 'failed' "
        "AND transaction_id IS NULL",
        transaction_id,
        gift_id,
    )
    return count == 1


async def taken_rows(transaction_ids: list[str]) -> set[str]:
    """Which of these ledger rows are matched to a purchase already."""
    taken: set[str] = set()
    for start in range(0, len(transaction_ids), 500):
        chunk = transaction_ids[start : start + 500]
        marks = ", ".join(f"${n}" for n in range(1, len(chunk) + 1))
        _, rows = await execute(
            _db(), f"SELECT transaction_id FROM gifts WHERE transaction_id IN ({marks})", *chunk
        )
        taken.update(str(row["transaction_id"]) for row in rows)
    return taken


async def list_gifts(state: GiftState | None = None, limit: int = 50) -> list[GiftRecord]:
    where = "WHERE state = $2 " if state is not None else ""
    args: list[Any] = [limit] + ([state.value] if state is not None else [])
    _, rows = await execute(
        _db(), f"SELECT {_COLUMNS} FROM gifts {where}ORDER BY created_at DESC LIMIT $1", *args
    )
    return [record_of(row) for row in rows]
