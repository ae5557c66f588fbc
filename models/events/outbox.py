"""Writing events: one per ledger row, in the row's transaction, when events are on.

Events are on while the `events` row exists in `job_state`: the leading bot worker's
sender writes it when it starts with `EVENTS_URL` set, and a leader without it removes
it (a standby never touches it). Every process that moves balances (the API, the bot,
a script calling `models.ledger`) follows that one switch, so none of them can be
configured apart from the sender and silently skip events. Ledger rows written while
events were off never get one: turning events on starts from then.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from models.kinds import EntryKind
from models.tables import JobState
from models.values import utcnow

SWITCH = "events"  # the job_state row whose presence means events are on


class EventType(StrEnum):
    TOPUP_CREDITED = "topup.credited"
    TOPUP_REFUNDED = "topup.refunded"
    DEBIT_CREATED = "debit.created"
    DEBIT_REVERSED = "debit.reversed"
    BALANCE_ADJUSTED = "balance.adjusted"
    GIFT_CREATED = "gift.created"
    GIFT_SENT = "gift.sent"
    GIFT_FAILED = "gift.failed"


EVENT_TYPES = {
    EntryKind.TOPUP: EventType.TOPUP_CREDITED,
    EntryKind.REFUND: EventType.TOPUP_REFUNDED,
    EntryKind.DEBIT: EventType.DEBIT_CREATED,
    EntryKind.DEBIT_REVERSAL: EventType.DEBIT_REVERSED,
    EntryKind.DEV_CREDIT: EventType.BALANCE_ADJUSTED,
    EntryKind.ADJUSTMENT: EventType.BALANCE_ADJUSTED,
    EntryKind.GIFT: EventType.GIFT_CREATED,
    EntryKind.PREMIUM: EventType.GIFT_CREATED,
    EntryKind.GIFT_SENT: EventType.GIFT_SENT,
    EntryKind.GIFT_REVERSAL: EventType.GIFT_FAILED,
}


def event_insert(entry_id: str, first: int, dialect: str, *, from_clause: str = "") -> str:
    """The INSERT of a ledger row's event, for the caller's ledger INSERT to run with.

    `entry_id` is the row's id as SQL (a parameter, or a column of `from_clause`, a
    FROM clause); the parameters from `$first` on are those of `event_args`. It writes
    nothing while events are off, and makes the event its user's head when no other
    event of theirs is pending: the caller holds the user's row (it just moved the
    balance), so no finish of that user's head can slip in between.
    """
    event_id, user_id, type_, source, at = (f"${n}" for n in range(first, first + 5))
    # PostgreSQL types a parameter by its first use, and a bare one inside CASE is text.
    now = f"CAST({at} AS TIMESTAMPTZ)" if dialect == "postgres" else at
    return (
        "INSERT INTO events (id, entry_id, user_id, type, source, state, attempts, "
        "next_attempt_at, queued_at, created_at) "
        f"SELECT {event_id}, {entry_id}, {user_id}, {type_}, {source}, 'pending', 0, "
        f"CASE WHEN EXISTS (SELECT 1 FROM events WHERE state = 'pending' "
        f"AND user_id = {user_id}) THEN NULL ELSE {now} END, {at}, {at}{from_clause} "
        f"WHERE EXISTS (SELECT 1 FROM job_state WHERE name = '{SWITCH}')"
    )


def event_args(user_id: int, kind: EntryKind, source: str, created_at: datetime) -> list[Any]:
    """The parameters of `event_insert`, in order."""
    return [uuid.uuid4(), user_id, EVENT_TYPES[kind].value, source[:32], created_at]


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
