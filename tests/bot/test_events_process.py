"""The real `run_bot.py` sending events: killed or stopped in the middle of deliveries,
it loses none; events written by another process go out; the secret is never logged."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from models.events.delivery import public_id
from models.infra.db import close_database, open_database
from models.kinds import EntryKind, EventState
from models.ledger.entries import apply_entry
from models.tables import Event
from tests.emulator import BotApiEmulator
from tests.event_receiver import Receiver
from tests.processes import Child
from tests.system import start_worker

SECRET = "whsec_" + "pr0cess1" * 6  # the base64 of 36 bytes
USERS = (301, 302, 303)
BACKENDS = pytest.mark.parametrize("empty_db_url", ["sqlite", "postgres"], indirect=True)
# The second tier for PostgreSQL: each case starts two workers, one after the other.
SQLITE_AND_SLOW_POSTGRES = pytest.mark.parametrize(
    "empty_db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.slow)], indirect=True
)


async def start_receiver(receiver: Receiver, aiohttp_server: Any) -> str:
    return str((await aiohttp_server(receiver.app())).make_url("/events"))


async def sender_up(
    tmp_path: Path, emulator: BotApiEmulator, db_url: str, url: str, name: str
) -> Child:
    worker = await start_worker(
        tmp_path, emulator, db_url, name, EVENTS_URL=url, EVENTS_SECRET=SECRET
    )
    # A restarted worker first waits out its predecessor's leader lease (LEADER_LEASE).
    await worker.wait_for_log("events.sending", timeout=60)
    return worker


async def write_events() -> dict[int, list[str]]:
    """Balance changes made by this process, not the worker: five per user."""
    for i in range(5):
        for user in USERS:
            await apply_entry(user, i + 1, EntryKind.DEV_CREDIT)
    order: dict[int, list[str]] = {}
    for event in await Event.all().order_by("entry_id"):
        order.setdefault(event.user_id, []).append(public_id(event.id))
    return order


async def all_delivered(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await Event.filter(state=EventState.PENDING).count():
        assert time.monotonic() < deadline, "events still pending"
        await asyncio.sleep(0.1)


def logged(worker: Child, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in worker.log.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


@pytest.mark.slow  # waits out the killed worker's lease and claims: 25 s by design
@BACKENDS
async def test_a_worker_killed_mid_delivery_loses_nothing(
    tmp_path: Path, emulator: BotApiEmulator, aiohttp_server: Any, empty_db_url: str
) -> None:
    receiver = Receiver(SECRET)
    receiver.hold = asyncio.Event()  # requests arrive, then get no answer: mid-delivery
    url = await start_receiver(receiver, aiohttp_server)
    first = await sender_up(tmp_path, emulator, empty_db_url, url, "first")
    await open_database(empty_db_url)
    try:
        order = await write_events()
        await receiver.wait_until(lambda: len(receiver.arrived) == len(USERS), what="heads")
        first.process.kill()  # SIGKILL: no clean-up of any kind
        await first.process.wait()
        receiver.hold.set()
        # The backend took those three, but its answers never got back.
        assert len(receiver.accepted()) == len(USERS)
        assert await Event.filter(state=EventState.DELIVERED).count() == 0

        second = await sender_up(tmp_path, emulator, empty_db_url, url, "second")
        try:
            # The killed worker's claims run out (15 s timeout + 5 s), then all goes.
            await all_delivered(timeout=90)
        finally:
            assert await second.stop() == 0
    finally:
        await close_database()
    for user in USERS:
        assert receiver.first_accepted(user) == order[user]
    assert receiver.requested_out_of_order(order) == []
    arrived = sorted(receiver.arrived)
    assert sorted(set(arrived)) == sorted(i for ids in order.values() for i in ids)
    assert len(arrived) == 15 + len(USERS)  # the three in flight came twice: deduplicate
    for worker in (first, second):
        assert SECRET not in worker.log


@SQLITE_AND_SLOW_POSTGRES
async def test_sigterm_gives_the_deliveries_in_flight_back_for_the_next_start(
    tmp_path: Path, emulator: BotApiEmulator, aiohttp_server: Any, empty_db_url: str
) -> None:
    receiver = Receiver(SECRET)
    receiver.hold = asyncio.Event()
    url = await start_receiver(receiver, aiohttp_server)
    first = await sender_up(tmp_path, emulator, empty_db_url, url, "first")
    await open_database(empty_db_url)
    try:
        order = await write_events()
        await receiver.wait_until(lambda: len(receiver.arrived) == len(USERS), what="heads")
        stopping = time.monotonic()
        assert await first.stop() == 0
        assert time.monotonic() - stopping < 15
        [stopped] = logged(first, "events.stopped")
        assert stopped["given_back"] == len(USERS)
        receiver.hold.set()

        second = await sender_up(tmp_path, emulator, empty_db_url, url, "second")
        try:
            started = time.monotonic()
            await all_delivered(timeout=30)
            assert time.monotonic() - started < 10  # no claim to wait out
        finally:
            assert await second.stop() == 0
    finally:
        await close_database()
    for user in USERS:
        assert receiver.first_accepted(user) == order[user]
    assert receiver.requested_out_of_order(order) == []
    assert SECRET not in first.log + second.log
