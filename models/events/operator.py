"""What the operator sees of the events outbox, and redelivering abandoned events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from models.events.delivery import as_uuid, lock_user, promote
from models.infra.sql import as_datetime, execute
from models.kinds import EventState
from models.values import utcnow


@dataclass(frozen=True, slots=True)
class EventLine:
    id: uuid.UUID
    user_id: int
    type: str
    state: EventState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    finished_at: datetime | None
    last_error: str | None


async def list_events(states: Sequence[EventState], limit: int) -> list[EventLine]:
    """The oldest `limit` events in these states, in the order they were written."""
    marks = ", ".join(f"${n}" for n in range(2, len(states) + 2))
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT id, user_id, type, state, attempts, created_at, next_attempt_at, finished_at, "
        "last_error "
        f"FROM events WHERE state IN ({marks}) ORDER BY entry_id LIMIT $1",
        limit,
        *(state.value for state in states),
    )
    return [
        EventLine(
            as_uuid(row["id"]),
            int(row["user_id"]),
            row["type"],
            EventState(row["state"]),
            int(row["attempts"]),
            as_datetime(row["created_at"]),
            as_datetime(row["next_attempt_at"]) if row["next_attempt_at"] else None,
            as_datetime(row["finished_at"]) if row["finished_at"] else None,
            row["last_error"],
        )
        for row in rows
    ]


async def count_events() -> dict[EventState, int]:
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT state, COUNT(*) AS n FROM events GROUP BY state",
    )
    counts = dict.fromkeys(EventState, 0)
    counts.update({EventState(row["state"]): int(row["n"]) for row in rows})
    return counts


async def redeliver(event_id: uuid.UUID, now: datetime | None = None) -> bool:
    """Queue an abandoned (or gone: answered 410) event again, with three more days of
    retries; it goes out after any event of its user now on its way. False if it was
    neither."""
    now = now or utcnow()
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT user_id FROM events WHERE id = $1 AND state IN ('abandoned', 'gone')",
        event_id,
    )
    if not rows:
        return False
    user_id = int(rows[0]["user_id"])
    async with in_transaction() as conn:
        await lock_user(conn, user_id)
        updated, _ = await execute(
            conn,
            "UPDATE events SET state = 'pending', attempts = 0, next_attempt_at = NULL, "
            "queued_at = $1, finished_at = NULL, last_error = NULL "
            "WHERE id = $2 AND state IN ('abandoned', 'gone')",
            now,
            event_id,
        )
        if updated:
            await promote(conn, user_id, now)
    return bool(updated)


async def redeliver_abandoned(now: datetime | None = None) -> int:
    """Queue every abandoned or gone event again, each user's in the order they were
    written."""
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT id FROM events WHERE state IN ('abandoned', 'gone') ORDER BY entry_id",
    )
    now = now or utcnow()
    count = 0
    for row in rows:
        count += await redeliver(as_uuid(row["id"]), now)
    return count
