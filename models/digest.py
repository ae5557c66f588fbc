"""The daily revenue digest's figures and its once-a-day claim.

A day's digest is claimed by inserting the `job_state` row `digest:<day>` (one
statement, insert-if-absent): whichever leader inserts it sends it, and a restart, a
takeover or a second worker finds it taken. It is claimed before it is sent, so a
leader that dies in between loses that day's digest rather than sending it twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tortoise import Tortoise

from models.infra.sql import execute
from models.kinds import EntryKind
from models.values import utcnow

PREFIX = "digest:"
KEPT_DAYS = 60  # digest claims older than this are deleted


@dataclass(frozen=True, slots=True)
class Figures:
    received: int  # Stars credited by payments
    payments: int
    refunded: int  # Stars Telegram returned to payers
    spent: int  # Stars debited, less those reversed
    adjusted: int  # net of manual adjustments


def due_day(now: datetime, at: str, zone: ZoneInfo) -> date | None:
    """The local day whose digest is due at `now`: yesterday's, once today's `at` has
    passed (None before). A worker that was down at `at` sends it when it leads again."""
    local = now.astimezone(zone)
    hour, minute = (int(part) for part in at.split(":"))
    if local.time() < time(hour, minute):
        return None
    return local.date() - timedelta(days=1)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), zone)
    return start, datetime.combine(day + timedelta(days=1), time(), zone)


async def figures(since: datetime, until: datetime) -> Figures:
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT kind, COALESCE(SUM(amount), 0) AS total, COUNT(*) AS n FROM ledger_entries "
        "WHERE created_at >= $1 AND created_at < $2 GROUP BY kind",
        # In UTC: SQLite compares the text it stored, which is UTC.
        since.astimezone(UTC),
        until.astimezone(UTC),
    )
    total = {str(row["kind"]): int(row["total"]) for row in rows}
    count = {str(row["kind"]): int(row["n"]) for row in rows}
    return Figures(
        received=total.get(EntryKind.TOPUP, 0),
        payments=count.get(EntryKind.TOPUP, 0),
        refunded=-total.get(EntryKind.REFUND, 0),
        spent=-(total.get(EntryKind.DEBIT, 0) + total.get(EntryKind.DEBIT_REVERSAL, 0)),
        adjusted=total.get(EntryKind.ADJUSTMENT, 0),
    )


async def claim_day(day: date, holder: str) -> bool:
    """True for the one caller that claims `day`'s digest; False for every other."""
    count, _ = await execute(
        Tortoise.get_connection("default"),
        "INSERT INTO job_state (name, holder, cursor, updated_at) VALUES ($1, $2, '{}', $3) "
        "ON CONFLICT (name) DO NOTHING RETURNING name",
        f"{PREFIX}{day.isoformat()}",
        holder,
        utcnow(),
    )
    return count == 1


async def forget_old_claims(today: date) -> None:
    """The claims are a day's row each; only recent ones can matter."""
    oldest = f"{PREFIX}{(today - timedelta(days=KEPT_DAYS)).isoformat()}"
    await execute(
        Tortoise.get_connection("default"),
        "DELETE FROM job_state WHERE name LIKE 'digest:%' AND name < $1",
        oldest,
    )
