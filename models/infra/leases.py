"""Leases timed by the database's clock, for a role several machines compete for.

`models.infra.jobs.acquire_lease` compares lease times with the caller's own clock,
which is fine for a job that is merely wasteful when run twice. Who polls Telegram is
decided across machines whose clocks may disagree, so here PostgreSQL's `now()` both
sets and judges every lease. A holder that starts its own timer just before it asks
never believes its lease lasts longer than the database does, whatever the clocks say.
SQLite is only ever shared by processes of one machine, so its clock is theirs.

Each claim is one statement (an upsert), with no session state: it works through a
transaction-mode pooler, and two processes claiming at once cannot both win.
"""

from __future__ import annotations

from datetime import timedelta

from tortoise import Tortoise

from models.infra.sql import execute
from models.tables import JobState
from models.values import utcnow

# Free, expired, or already ours: the row is taken or renewed; otherwise left alone
# and nothing is returned.
_TAKE_IF_FREE = """
    ON CONFLICT (name) DO UPDATE
    SET holder = excluded.holder, lease_until = excluded.lease_until,
        updated_at = excluded.updated_at
    WHERE j.holder IS NULL OR j.lease_until IS NULL OR j.holder = excluded.holder
       OR j.lease_until < {now}
    RETURNING holder
"""
_CLAIM_POSTGRES = """
    INSERT INTO job_state AS j (name, holder, lease_until, cursor, updated_at)
    VALUES ($1, $2, now() + make_interval(secs => $3), '{}', now())
    """ + _TAKE_IF_FREE.format(now="now()")
# Timestamps as text in the format Tortoise writes to SQLite, so they compare in order.
_CLAIM_SQLITE = """
    INSERT INTO job_state AS j (name, holder, lease_until, cursor, updated_at)
    VALUES ($1, $2, $3, '{}', $4)
    """ + _TAKE_IF_FREE.format(now="$4")


async def claim(name: str, holder: str, seconds: float) -> bool:
    """Take the lease `name` for `seconds`, or renew it if `holder` has it already."""
    conn = Tortoise.get_connection("default")
    if conn.capabilities.dialect == "sqlite":
        now = utcnow()
        until = now + timedelta(seconds=seconds)
        stamps = (t.isoformat(sep=" ", timespec="microseconds") for t in (until, now))
        count, _ = await execute(conn, _CLAIM_SQLITE, name, holder, *stamps)
    else:
        count, _ = await execute(conn, _CLAIM_POSTGRES, name, holder, float(seconds))
    return count == 1


async def holder_of(name: str) -> str | None:
    """Who holds `name` now (or held it last, if it expired unreleased)."""
    rows = await JobState.filter(name=name).values_list("holder", flat=True)
    return str(rows[0]) if rows and rows[0] else None


async def free_if_held_by(name: str, prefix: str) -> bool:
    """Free the lease `name` if its holder's name starts with `prefix`: for a new leader
    taking over a job only leaders run, from a predecessor that died holding it."""
    freed = await JobState.filter(name=name, holder__startswith=prefix).update(
        holder=None, lease_until=None
    )
    return freed > 0
