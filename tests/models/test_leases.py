"""Leases timed by one clock: one holder at a time, even when all ask at once."""

from __future__ import annotations

import asyncio

from models.infra.leases import acquire_lease, free_if_held_by, holder_of, release_lease
from models.tables import JobState
from tests.databases import through_pgbouncer


@through_pgbouncer
async def test_a_lease_is_held_by_one_holder_until_it_expires_or_is_released(db: str) -> None:
    assert await holder_of("worker") is None
    assert await acquire_lease("worker", "host-a:1", 0.6)
    assert not await acquire_lease("worker", "host-b:1", 0.6)
    assert await acquire_lease("worker", "host-a:1", 0.6)  # renewed by its holder
    assert await holder_of("worker") == "host-a:1"
    await asyncio.sleep(0.8)
    assert await acquire_lease("worker", "host-b:1", 30)  # expired: anyone may take it
    assert not await acquire_lease("worker", "host-a:1", 30)
    await release_lease("worker", "host-a:1")  # not the holder: nothing happens
    assert await holder_of("worker") == "host-b:1"
    await release_lease("worker", "host-b:1")
    assert await acquire_lease("worker", "host-a:1", 30)  # released: taken at once


@through_pgbouncer
async def test_many_asking_at_once_make_exactly_one_holder(db: str) -> None:
    for _ in range(5):
        wins = await asyncio.gather(*(acquire_lease("race", f"host:{i}", 30) for i in range(20)))
        assert sum(wins) == 1
        await release_lease("race", str(await holder_of("race")))


async def test_a_claim_leaves_the_cursor_of_a_job_alone(db: str) -> None:
    await JobState.create(name="reconcile", cursor={"watermark": 7})
    assert await acquire_lease("reconcile", "host:1", 30)
    row = await JobState.get(name="reconcile")
    assert row.cursor == {"watermark": 7}
    assert row.holder == "host:1"


async def test_a_lease_is_freed_by_prefix_only_from_holders_so_named(db: str) -> None:
    assert await acquire_lease("reconcile", "host:1", 300)  # an operator's command
    assert not await free_if_held_by("reconcile", "leader:")
    assert await holder_of("reconcile") == "host:1"
    await release_lease("reconcile", "host:1")
    assert await acquire_lease("reconcile", "leader:host:2:abc", 300)  # a worker that died
    assert await free_if_held_by("reconcile", "leader:")
    assert await acquire_lease("reconcile", "leader:host:3:def", 300)
