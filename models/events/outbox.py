"""Writing events: one per ledger row, in the row's transaction, when events are on.

Events are on while the `events` row exists in `job_state`: the bot worker's sender
writes it when it starts with `EVENTS_URL` set, and a worker started without it
removes it. Every process that moves balances (the API, the bot, a script calling
`models.ledger`) follows that one switch, so none of them can be configured apart
from the sender and silently skip events. Ledger rows written while events were off
never get one: turning events on starts from then.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from tortoise.backends.base.client import BaseDBAsyncClient

from models.infra.sql import execute
from models.tables import EntryKind, JobState
from models.values import utcnow

SWITCH = "events"  # the job_state row whose presence means events are on


class EventType(StrEnum):
    TOPUP_CREDITED = "topup.credited"
    TOPUP_REFUNDED = "topup.refunded"
    DEBIT_CREATED = "debit.created"
    DEBIT_REVERSED = "debit.reversed"
    BALANCE_ADJUSTED = "balance.adjusted"


EVENT_TYPES = {
    EntryKind.TOPUP: EventType.TOPUP_CREDITED,
    EntryKind.REFUND: EventType.TOPUP_REFUNDED,
    EntryKind.DEBIT: EventType.DEBIT_CREATED,
    EntryKind.DEBIT_REVERSAL: EventType.DEBIT_REVERSED,
    EntryKind.DEV_CREDIT: EventType.BALANCE_ADJUSTED,
    EntryKind.ADJUSTMENT: EventType.BALANCE_ADJUSTED,
}

# One statement: nothing when events are off; otherwise the event, as its user's head
# when no other event of theirs is pending. The caller holds the user's row (it just
# moved the balance), so no finish of that user's head can slip between the two.
_WRITE = (
    "INSERT INTO events (id, entry_id, user_id, type, source, state, attempts, "
    "next_attempt_at, queued_at, created_at) "
    "SELECT $1, $2, $3, $4, $5, 'pending', 0, "
    "CASE WHEN EXISTS (SELECT 1 FROM events WHERE state = 'pending' AND user_id = $3) "
    "THEN NULL ELSE {now} END, $6, $6 "
    "WHERE EXISTS (SELECT 1 FROM job_state WHERE name = '" + SWITCH + "')"
)
_WRITE_SQL = {
    # PostgreSQL types a parameter by its first use, and a bare one inside CASE is text.
    "postgres": _WRITE.format(now="CAST($6 AS TIMESTAMPTZ)"),
    "sqlite": _WRITE.format(now="$6"),
}


async def write_event(
    conn: BaseDBAsyncClient,
    entry_id: int,
    user_id: int,
    kind: EntryKind,
    source: str,
    created_at: datetime,
) -> None:
    """The event of a ledger row just written in this transaction (if events are on)."""
    await execute(
        conn,
        _WRITE_SQL[conn.capabilities.dialect],
        uuid.uuid4(),
        entry_id,
        user_id,
        EVENT_TYPES[kind].value,
        source[:32],
        created_at,
    )


async def switch_events(on: bool) -> None:
    """Turn writing events on (keeping when it was first turned on) or off."""
    if on:
        since = utcnow().isoformat()
        await JobState.bulk_create(
            [JobState(name=SWITCH, cursor={"since": since})], ignore_conflicts=True
        )
    else:
        await JobState.filter(name=SWITCH).delete()


async def events_on_since() -> datetime | None:
    """When events were turned on, or None while they are off."""
    row = await JobState.get_or_none(name=SWITCH)
    if row is None:
        return None
    since = row.cursor.get("since")
    return datetime.fromisoformat(since) if isinstance(since, str) else utcnow()
