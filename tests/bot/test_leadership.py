"""Leadership in one process: who may poll, and when a leader must stop.

The real processes are in test_standby_worker.py; these pin down the timing rules.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiogram.methods import GetUpdates

from bot.leadership import Leadership, LeaseGate, LeaseNotHeld, LeaseTimes
from bot.worker import LEADER_PREFIX, Worker
from models.infra import metrics
from models.infra.db import apply_migrations, close_database, open_database
from models.infra.telegram import make_bot
from models.orders.opening import open_order
from models.tables import JobState, LedgerEntry
from models.values import Profile, utcnow
from tests.databases import (
    PG_URL,
    create_pg_database,
    drop_pg_database,
    lease_until,
    pg_address,
    with_port,
)
from tests.databases import pg_database_url as pg_url
from tests.emulator import BotApiEmulator, running_emulator
from tests.helpers import ALICE, TOKEN, make_settings, metric
from tests.system import start_system
from tests.tcp_proxy import TcpProxy


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    async with running_emulator() as running:
        yield running


async def test_a_standby_takes_over_a_tenth_of_a_lease_after_the_leader_releases(
    db: str,
) -> None:
    times = LeaseTimes(lease=2.0)
    leader, standby = Leadership(times, holder="a:1"), Leadership(times, holder="b:1")
    stop = asyncio.Event()
    assert await leader.acquire(stop)
    assert leader.may_poll()
    waiting = asyncio.create_task(standby.acquire(stop))
    await asyncio.sleep(1.0)
    assert not waiting.done()
    assert not standby.may_poll()
    await leader.release()
    released = time.monotonic()
    assert await asyncio.wait_for(waiting, 5)
    assert time.monotonic() - released <= times.retry_every + 0.15
    assert standby.may_poll()
    assert not leader.may_poll()


async def test_a_standby_told_to_stop_gives_up_waiting(db: str) -> None:
    times = LeaseTimes(lease=2.0)
    stop = asyncio.Event()
    assert await Leadership(times, holder="a:1").acquire(stop)
    waiting = asyncio.create_task(Leadership(times, holder="b:1").acquire(stop))
    await asyncio.sleep(0.3)
    stop.set()
    assert await asyncio.wait_for(waiting, 1) is False


async def test_getupdates_goes_out_only_under_the_lease_and_a_late_answer_is_dropped_unconfirmed(
    db: str, emulator: BotApiEmulator
) -> None:
    times = LeaseTimes(lease=2.0)  # polling must stop 1.5 s after the last renewal
    leadership = Leadership(times, holder="a:1")
    bot = make_bot(make_settings(telegram_api_url=emulator.url))
    bot.session.middleware(LeaseGate(leadership))
    state = emulator.bot(TOKEN)
    try:
        with pytest.raises(LeaseNotHeld):  # not acquired yet: nothing is sent
            await bot(GetUpdates(timeout=0))
        assert state.polls == []
        assert await leadership.acquire(asyncio.Event())  # and never renewed
        asyncio.get_running_loop().call_later(1.8, emulator.send_text, TOKEN, ALICE, "/x")
        with pytest.raises(LeaseNotHeld):  # the answer came after the deadline
            await bot(GetUpdates(timeout=3), request_timeout=10)
        [poll] = state.polls
        assert (poll.outcome, poll.updates) == ("answered", 1)
        with pytest.raises(LeaseNotHeld):
            await bot(GetUpdates(timeout=0))
        assert len(state.polls) == 1
        assert len(state.updates) == 1  # never confirmed: the next leader gets it
    finally:
        await bot.session.close()


async def test_a_leader_cut_off_from_the_database_stops_before_its_lease_expires() -> None:
    if not PG_URL:
        pytest.skip("needs TEST_POSTGRES_URL: the database is made to hang")
    name = await create_pg_database()
    direct = pg_url(name)
    await apply_migrations(direct)
    proxy = TcpProxy(*pg_address(direct))
    await open_database(with_port(direct, await proxy.start()), pool_size=2)
    times = LeaseTimes(lease=3.0)
    leadership = Leadership(times, holder="a:1")
    try:
        assert await leadership.acquire(asyncio.Event())
        keeping = asyncio.create_task(leadership.keep())
        await asyncio.sleep(times.renew_every * 2.5)  # renewed twice meanwhile
        assert not keeping.done()
        proxy.hang()
        until = await lease_until(direct)
        await asyncio.wait_for(keeping, times.lease)
        stopped = time.time()
        assert not leadership.may_poll()
        margin = until.timestamp() - stopped
        # The last renewal that got through was sent up to renew_every before the
        # hang; polling stops fence_after after that, well inside the lease.
        assert margin >= times.lease - times.fence_after - 0.2, margin
        print(f"\nstopped {margin:.2f} s before the lease expired in the database")
    finally:
        proxy.restore()
        await leadership.close()
        await close_database()
        await proxy.stop()
        await drop_pg_database(name)


async def test_a_worker_that_lost_the_lease_to_a_hung_database_leads_again_when_it_returns(
    emulator: BotApiEmulator,
) -> None:
    if not PG_URL:
        pytest.skip("needs TEST_POSTGRES_URL: the database is made to hang")
    name = await create_pg_database()
    direct = pg_url(name)
    await apply_migrations(direct)
    proxy = TcpProxy(*pg_address(direct))
    url = with_port(direct, await proxy.start())
    await open_database(url, pool_size=5)
    settings = make_settings(
        telegram_api_url=emulator.url, database_url=url, reconcile_interval=3600
    )
    worker = Worker(settings, polling_timeout=1, leadership=Leadership(LeaseTimes(lease=2.0)))
    state = emulator.bot(TOKEN)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await until(lambda: leading() == 1 and bool(state.polls))
        proxy.hang()
        await until(lambda: leading() == 0)
        polls = len(state.polls)
        await asyncio.sleep(1.0)
        assert len(state.polls) == polls  # fenced: it does not poll
        proxy.restore()
        emulator.send_text(TOKEN, ALICE, "/balance")
        [reply] = await emulator.wait_for_message(TOKEN, ALICE["id"], timeout=10)
        assert reply["text"] == "Your balance: 0 ⭐"
        assert leading() == 1
    finally:
        proxy.restore()
        stop.set()
        await asyncio.wait_for(running, 40)
        await close_database()
        await proxy.stop()
        await drop_pg_database(name)


def leading() -> float:
    return metric(metrics.render()[0].decode(), "stars_worker_leader")


async def until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_a_new_leader_takes_over_reconciliation_from_a_leader_that_died_in_a_pass(
    db: str, emulator: BotApiEmulator, aiohttp_client: Any
) -> None:
    # Killed in the middle of a pass: its lease would hold reconciliation off for minutes.
    await JobState.create(
        name="reconcile",
        holder=LEADER_PREFIX + "gone-host:7:0a0b0c",
        lease_until=utcnow() + timedelta(minutes=5),
        cursor={},
    )
    order = await open_order(Profile(ALICE["id"]), 100, ttl=3600, max_pending=9, per_minute=9)
    link = emulator.add_invoice(TOKEN, str(order.id), 100)
    charge_id = emulator.charge(link, ALICE, deliver=False)  # its update was lost
    system, stop, task = await start_system(aiohttp_client, emulator)
    try:
        for _ in range(200):
            if await LedgerEntry.filter(telegram_payment_charge_id=charge_id).exists():
                break
            await asyncio.sleep(0.05)
        assert await system.balance(ALICE) == 100
    finally:
        stop.set()
        await asyncio.wait_for(task, 40)
