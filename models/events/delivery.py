"""The steps of delivering events, for the sender (`bot/events.py`).

An event is claimed before it is sent: its `next_attempt_at` moves past the time the
request may take, so no other pass (or process) sends it meanwhile, and if the sender
dies the claim simply runs out and the event is due again. Finishing an event
(delivered or abandoned) makes the user's next pending event the head, due at once.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from models.infra.sql import as_datetime, execute
from models.kinds import EventState


def public_id(event_id: uuid.UUID) -> str:
    return f"evt_{event_id.hex}"


def parse_public_id(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text.removeprefix("evt_"))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    entry_id: int
    user_id: int
    attempts: int
    queued_at: datetime


def as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _db() -> BaseDBAsyncClient:
    return Tortoise.get_connection("default")


async def claim_due(now: datetime, limit: int, until: datetime) -> list[Claimed]:
    """Claim up to `limit` heads due by `now` (oldest due first) until `until`."""
    _, due = await execute(
        _db(),
        "SELECT id FROM events WHERE state = 'pending' AND next_attempt_at <= $1 LIMIT 1",
        now,
    )
    if not due:  # the usual idle pass: a read, so SQLite's write lock is left alone
        return []
    # The outer conditions repeat the inner ones: a PostgreSQL update that waited for
    # another process's claim re-checks them against the row it claimed and skips it.
    _, rows = await execute(
        _db(),
        "UPDATE events SET next_attempt_at = $1 WHERE id IN ("
        "SELECT id FROM events WHERE state = 'pending' AND next_attempt_at <= $2 "
        "ORDER BY next_attempt_at, entry_id LIMIT $3"
        ") AND state = 'pending' AND next_attempt_at <= $2 "
        "RETURNING id, entry_id, user_id, attempts, queued_at",
        until,
        now,
        limit,
    )
    claimed = [
        Claimed(
            as_uuid(row["id"]),
            int(row["entry_id"]),
            int(row["user_id"]),
            int(row["attempts"]),
            as_datetime(row["queued_at"]),
        )
        for row in rows
    ]
    return sorted(claimed, key=lambda event: event.entry_id)


async def release(event_id: uuid.UUID, now: datetime) -> None:
    """Give a claim back unsent: due again at once (the sender is stopping)."""
    await execute(
        _db(),
        "UPDATE events SET next_attempt_at = $1 WHERE id = $2 AND state = 'pending'",
        now,
        event_id,
    )


async def event_body(event_id: uuid.UUID) -> bytes | None:
    """The JSON the receiver gets: built from rows that never change once committed,
    so every attempt sends the same bytes."""
    _, rows = await execute(
        _db(),
        "SELECT e.id, e.type, e.source, e.created_at, e.user_id, l.amount, "
        "l.stars_balance_after, l.order_id, l.telegram_payment_charge_id, l.debit_id, "
        "l.anomaly, l.note, l.gift_id, d.idempotency_key, d.reason, "
        "a.idempotency_key AS adjustment_key, a.actor "
        "FROM events AS e JOIN ledger_entries AS l ON l.id = e.entry_id "
        "LEFT JOIN debits AS d ON d.id = l.debit_id "
        "LEFT JOIN adjustments AS a ON a.entry_id = l.id WHERE e.id = $1",
        event_id,
    )
    if not rows:
        return None
    row = rows[0]
    adjusted = row["type"] == "balance.adjusted"
    body: dict[str, Any] = {
        "id": public_id(as_uuid(row["id"])),
        "type": row["type"],
        "created_at": as_datetime(row["created_at"]).astimezone(UTC).isoformat(),
        "data": {
            "telegram_id": int(row["user_id"]),
            "amount": int(row["amount"]),
            "stars_balance": int(row["stars_balance_after"]),
            "order_id": str(row["order_id"]) if row["order_id"] else None,
            "charge_id": row["telegram_payment_charge_id"],
            "debit_id": str(row["debit_id"]) if row["debit_id"] else None,
            "idempotency_key": row["idempotency_key"] or row["adjustment_key"],
            # A debit's reason; for an adjustment, the note it was made with.
            "reason": row["note"] if adjusted else row["reason"],
            "anomaly": row["anomaly"],
            "source": row["source"],
            # Who made an adjustment (models.ledger.adjustments); null for the rest.
            "by": row["actor"],
        },
    }
    if row["gift_id"]:  # gift.created / gift.sent / gift.failed: GET /service/gifts/{id}
        body["data"]["gift_id"] = str(row["gift_id"])
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def lock_user(conn: BaseDBAsyncClient, user_id: int) -> None:
    """Wait for, then hold, the user's row: a balance move holds it until commit.

    On SQLite the caller's first statement is a write, which holds the whole database."""
    if conn.capabilities.dialect == "postgres":
        await execute(conn, "SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE", user_id)


async def promote(conn: BaseDBAsyncClient, user_id: int, now: datetime) -> None:
    """Make the user's oldest pending event the head, due at `now`, unless one is."""
    await execute(
        conn,
        "UPDATE events SET next_attempt_at = $1 WHERE id = ("
        "SELECT id FROM events WHERE state = 'pending' AND user_id = $2 "
        "ORDER BY entry_id LIMIT 1"
        ") AND NOT EXISTS ("
        "SELECT 1 FROM events WHERE state = 'pending' AND user_id = $2 "
        "AND next_attempt_at IS NOT NULL)",
        now,
        user_id,
    )


async def finish(
    event_id: uuid.UUID,
    user_id: int,
    state: EventState,
    now: datetime,
    error: str | None = None,
) -> bool:
    """Mark a pending event delivered or abandoned and let the user's next one go.
    False if it was not pending (another sender finished it)."""
    async with in_transaction() as conn:
        await lock_user(conn, user_id)
        updated, _ = await execute(
            conn,
            "UPDATE events SET state = $1, finished_at = $2, next_attempt_at = NULL, "
            "attempts = attempts + 1, last_error = COALESCE($3, last_error) "
            "WHERE id = $4 AND state = 'pending'",
            state.value,
            now,
            error,
            event_id,
        )
        if updated:
            await promote(conn, user_id, now)
    return bool(updated)


async def reschedule(event_id: uuid.UUID, attempts: int, when: datetime, error: str) -> None:
    """A failed attempt: try again at `when`. The event stays its user's head."""
    await execute(
        _db(),
        "UPDATE events SET attempts = $1, next_attempt_at = $2, last_error = $3 "
        "WHERE id = $4 AND state = 'pending'",
        attempts,
        when,
        error,
        event_id,
    )


async def repair_heads(now: datetime) -> int:
    """Give a head to every user whose pending events have none; returns how many.

    Nothing written through `models` leaves such a user (see the package docstring);
    this is for rows changed by hand."""
    _, rows = await execute(
        _db(),
        "SELECT DISTINCT user_id FROM events AS e WHERE state = 'pending' AND NOT EXISTS ("
        "SELECT 1 FROM events AS h WHERE h.state = 'pending' AND h.user_id = e.user_id "
        "AND h.next_attempt_at IS NOT NULL)",
    )
    for row in rows:
        async with in_transaction() as conn:
            await lock_user(conn, int(row["user_id"]))
            await promote(conn, int(row["user_id"]), now)
    return len(rows)


async def oldest_pending() -> datetime | None:
    """When the oldest event not yet delivered (nor abandoned) was written."""
    _, rows = await execute(
        _db(), "SELECT MIN(created_at) AS oldest FROM events WHERE state = 'pending'"
    )
    oldest = rows[0]["oldest"] if rows else None
    return as_datetime(oldest) if oldest is not None else None
