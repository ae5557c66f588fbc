"""Named leases in `job_state`, for work one process at a time should do: polling
Telegram (bot/leadership.py) and a reconciliation pass (bot/reconcile.py).

A lease is judged by one clock: PostgreSQL's `now()` both sets and judges every
lease, because the processes that compete for one may run on machines whose clocks
disagree. A holder that starts its own timer just before it asks never believes its
lease lasts longer than the database does, whatever the clocks say. SQLite is only
ever shared by processes of one machine, so its clock is theirs.

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


async def acquire_lease(name: str, holder: str, seconds: float) -> bool:
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


async def release_lease(name: str, holder: str) -> None:
    """Give the lease back, if `holder` has it."""
    await JobState.filter(name=name, holder=holder).update(holder=None, lease_until=None)


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
