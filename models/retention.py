"""Keeping the tables small: finished events and sent notices are deleted once older
than their retention (EVENTS_RETENTION_DAYS, NOTICES_RETENTION_DAYS), by the leading
worker (bot/housekeeping.py), in small batches.

Only rows whose work is done go: an event delivered or abandoned (an abandoned one can
no longer be redelivered once pruned), a notice sent or given up on. The money's own
record never does: the ledger, orders, debits, gifts, adjustments and the cursors in
`job_state` are kept for good, and nothing they reference is pruned (events and
notices point at them, never the other way).

Each batch is one short DELETE of at most `batch` rows found by an index (events by
(state, finished_at), notices by sent_at), so a payment waiting for SQLite's write lock
or for a PostgreSQL row never waits behind a long prune.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise import Tortoise

from models.infra import metrics
from models.infra.sql import execute
from models.values import utcnow

BATCH = 500

_PRUNE = {
    "events": "DELETE FROM events WHERE id IN (SELECT id FROM events "
    "WHERE state IN ('delivered', 'abandoned') AND finished_at < $1 LIMIT $2)",
    "notices": "DELETE FROM notices WHERE id IN (SELECT id FROM notices "
    "WHERE sent_at < $1 LIMIT $2)",
}


@dataclass(frozen=True, slots=True)
class Retention:
    """Days each kind is kept once done; 0 keeps it for good."""

    events_days: int = 30
    notices_days: int = 30


async def prune_table(table: str, before: datetime, *, batch: int = BATCH) -> int:
    """Delete the table's finished rows older than `before`, a batch at a time;
    returns how many."""
    total = 0
    while True:
        count, _ = await execute(Tortoise.get_connection("default"), _PRUNE[table], before, batch)
        total += count
        metrics.ROWS_PRUNED.labels(table).inc(count)
        if count < batch:
            return total
        await asyncio.sleep(0)  # let payments in between batches


async def prune(
    retention: Retention, *, now: datetime | None = None, batch: int = BATCH
) -> dict[str, int]:
    """One pass over both tables; returns the rows deleted from each."""
    now = now or utcnow()
    pruned: dict[str, int] = {}
    for table, days in (("events", retention.events_days), ("notices", retention.notices_days)):
        if days > 0:
            pruned[table] = await prune_table(table, now - timedelta(days=days), batch=batch)
    return pruned
