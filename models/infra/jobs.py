"""What background jobs keep in `job_state` between runs: a job's cursor (written only
by the holder of its lease, `models.infra.leases`), and when this database was
deployed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.infra.sql import as_datetime
from models.tables import JobState, LedgerEntry, TopUpOrder
from models.values import utcnow


async def load_cursor(name: str) -> dict[str, Any]:
    rows = await JobState.filter(name=name).values_list("cursor", flat=True)
    return dict(rows[0]) if rows and rows[0] else {}


async def save_cursor(name: str, holder: str, cursor: dict[str, Any]) -> None:
    await JobState.filter(name=name, holder=holder).update(cursor=cursor)


DEPLOYMENT = "deployment"


async def deployment_time() -> datetime:
    """When this database started being used, fixed the first time anyone asks.

    Reconciliation credits only payments made since then: a bot token may carry Stars
    history from an earlier implementation, and turning it into spendable balance (and
    messages to old payers) is the operator's decision (`run_bot.py backfill`). A
    database that already holds orders or ledger rows (an upgrade) started with the
    oldest of them, so nothing the previous version would have recovered is hidden.
    Insert-if-absent, then read: two processes asking at once agree on one time.
    """
    stored = await load_cursor(DEPLOYMENT)
    if "at" not in stored:
        first: list[datetime] = []
        for model in (TopUpOrder, LedgerEntry):
            oldest = (
                await model.all()
                .order_by("created_at")
                .limit(1)
                .values_list("created_at", flat=True)
            )
            # A flat values_list is typed as tuples; each item here is one created_at.
            first.extend(as_datetime(value) for value in oldest)  # type: ignore[arg-type]
        started = min(first, default=utcnow())
        await JobState.bulk_create(
            [JobState(name=DEPLOYMENT, cursor={"at": started.isoformat()})],
            ignore_conflicts=True,
        )
        stored = await load_cursor(DEPLOYMENT)
    return as_datetime(stored["at"])
