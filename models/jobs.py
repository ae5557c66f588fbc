"""Leases for background jobs that must run in one process at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tortoise.expressions import Q

from models.money import utcnow
from models.tables import JobState


async def acquire_lease(name: str, holder: str, seconds: float) -> bool:
    """Take or renew the lease `name`; one UPDATE, so two processes cannot both win."""
    await JobState.bulk_create([JobState(name=name, cursor={})], ignore_conflicts=True)
    now = utcnow()
    free = Q(holder__isnull=True) | Q(lease_until__lt=now) | Q(holder=holder)
    updated = await JobState.filter(Q(name=name) & free).update(
        holder=holder, lease_until=now + timedelta(seconds=seconds)
    )
    return updated == 1


async def release_lease(name: str, holder: str) -> None:
    await JobState.filter(name=name, holder=holder).update(holder=None, lease_until=None)


async def load_cursor(name: str) -> dict[str, Any]:
    rows = await JobState.filter(name=name).values_list("cursor", flat=True)
    return dict(rows[0]) if rows and rows[0] else {}


async def save_cursor(name: str, holder: str, cursor: dict[str, Any]) -> None:
    await JobState.filter(name=name, holder=holder).update(cursor=cursor)
