"""Two real `run_bot.py` processes on one database: one polls, the other stands by and
takes over when the leader is killed, stops, or loses the database.

Each worker reaches the emulator through its own door (`BotApiEmulator.door_url`), so
the emulator's record of getUpdates calls says which process polled and when. The
PostgreSQL cases run with the default lease (10 s); the handover times they measure
are printed (run with -s) and quoted in docs/operations.md (Failover).
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from models.infra.db import apply_migrations, close_database, open_database
from models.kinds import EntryKind
from models.orders.opening import open_order
from models.tables import LedgerEntry
from models.values import Profile
from tests.databases import (
    PG_URL,
    create_pg_database,
    drop_pg_database,
    lease_until,
    pg_address,
    pg_database_url,
    with_port,
)
from tests.emulator import BotApiEmulator, Poll
from tests.helpers import TOKEN
from tests.processes import Child, free_port, run, start
from tests.tcp_proxy import TcpProxy

LEASE = 10.0  # the default LEADER_LEASE
# The second tier: each case starts two to three workers and waits out real leases.
pytestmark = pytest.mark.slow


@dataclass
class Worker:
    name: str
    child: Child
    metrics_port: int

    async def leader_gauge(self) -> float:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{self.metrics_port}/metrics") as response,
        ):
            body = await response.text()
        found = re.search(r"^stars_worker_leader (\S+)$", body, re.MULTILINE)
        assert found, body
        return float(found.group(1))


@dataclass
class Deployment:
    """Workers, buyers and the ledger of one database (the test's own URL is direct)."""

    tmp_path: Path
    emulator: BotApiEmulator
    db_url: str
    charges: dict[str, int] = field(default_factory=dict)
    paid_at: list[float] = field(default_factory=list)  # wall clock, per approved checkout
    buyers: int = 0

    async def start(self, name: str, db_url: str | None = None, **env: Any) -> Worker:
        port = free_port()
        child = await start(
            "run_bot.py",
            self.tmp_path / f"{name}.log",
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=self.emulator.door_url(name),
            DATABASE_URL=db_url or self.db_url,
            BOT_METRICS_PORT=port,
            **env,
        )
        return Worker(name, child, port)

    async def leader_and_standby(self, **env: Any) -> tuple[Worker, Worker]:
        leader = await self.start("first", **env)
        await leader.child.wait_for_log("Start polling", timeout=60)
        standby = await self.start("second", **env)
        await standby.child.wait_for_log("worker.standing_by", timeout=60)
        return leader, standby

    async def links(self, count: int, amount: int = 100) -> list[tuple[dict[str, Any], str]]:
        """Orders of new buyers, with their invoice links, as the API would make."""
        await open_database(self.db_url, pool_size=2)
        made = []
        try:
            for _ in range(count):
                self.buyers += 1
                buyer: dict[str, Any] = {"id": 70_000 + self.buyers, "first_name": "Buyer"}
                order = await open_order(
                    Profile(buyer["id"]), amount, ttl=3600, max_pending=9, per_minute=99
                )
                made.append((buyer, self.emulator.add_invoice(TOKEN, str(order.id), amount)))
        finally:
            await close_database()
        return made

    async def buy(self, buyer: dict[str, Any], link: str) -> None:
        """Press Pay until the bot approves, as a person would; then Telegram charges."""
        while True:
            outcome = await self.emulator.checkout(link, buyer, deadline=4)
            if outcome.status == "paid":
                self.paid_at.append(time.time())
                amount = self.emulator.invoice(link)["amount"]
                self.charges[self.emulator.charge(link, buyer)] = amount
                return
            assert outcome.status == "timeout", outcome
            await asyncio.sleep(0.2)

    async def ledger(self) -> dict[str, list[int]]:
        await open_database(self.db_url, pool_size=2)
        try:
            rows = await LedgerEntry.filter(kind=EntryKind.TOPUP).values_list(
                "telegram_payment_charge_id", "amount"
            )
        finally:
            await close_database()
        found: dict[str, list[int]] = {}
        for charge_id, amount in rows:
            found.setdefault(str(charge_id), []).append(int(amount))
        return found

    async def assert_each_payment_credited_once(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while set(await self.ledger()) < set(self.charges) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        ledger = await self.ledger()
        assert {c: ledger.get(c) for c in self.charges} == {
            c: [amount] for c, amount in self.charges.items()
        }
        assert set(ledger) == set(self.emulator.bot(TOKEN).payments)
        code, out, err = await run(
            "run_bot.py",
            "check",
            cwd=self.tmp_path,
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=self.emulator.url,
            DATABASE_URL=self.db_url,
        )
        assert code == 0, out + err
        assert "all invariants hold" in out + err

    def polls(self, door: str | None = None) -> list[Poll]:
        polls = self.emulator.bot(TOKEN).polls
        return [p for p in polls if door is None or p.door == door]

    async def first_poll(self, door: str, timeout: float) -> Poll:
        deadline = time.monotonic() + timeout
        while not self.polls(door):
            assert time.monotonic() < deadline, f"{door} never polled"
            await asyncio.sleep(0.05)
        return self.polls(door)[0]

    def assert_one_poller_at_a_time(self) -> None:
        """No getUpdates of one worker overlaps one of another, however short."""
        now = time.time()
        spans = sorted((p.started, p.ended or now, p.door) for p in self.polls())
        latest_end: dict[str, float] = {}
        for started, ended, door in spans:
            for other, end in latest_end.items():
                assert other == door or end <= started, (other, end, door, started)
            latest_end[door] = max(latest_end.get(door, 0.0), ended)


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    from tests.emulator import running_emulator

    async with running_emulator() as running:
        yield running


@pytest.fixture
async def pg_deployment(tmp_path: Path, emulator: BotApiEmulator) -> AsyncIterator[Deployment]:
    if not PG_URL:
        pytest.skip("needs TEST_POSTGRES_URL: several machines share one PostgreSQL")
    name = await create_pg_database()
    url = pg_database_url(name)
    await apply_migrations(url)
    deployment = Deployment(tmp_path, emulator, url)
    try:
        yield deployment
    finally:
        await drop_pg_database(name)


@pytest.fixture
async def sqlite_deployment(tmp_path: Path, emulator: BotApiEmulator) -> Deployment:
    url = f"sqlite://{tmp_path}/stars.sqlite3"
    await apply_migrations(url)
    return Deployment(tmp_path, emulator, url)


async def test_a_killed_leader_is_replaced_within_15_s_and_every_payment_is_credited_once(
    pg_deployment: Deployment,
) -> None:
    leader, standby = await pg_deployment.leader_and_standby()
    try:
        sales = await pg_deployment.links(80)
        limit = asyncio.Semaphore(8)

        async def sale(buyer: dict[str, Any], link: str) -> None:
            async with limit:
                await pg_deployment.buy(buyer, link)

        burst = asyncio.gather(*(sale(*s) for s in sales))
        while len(pg_deployment.charges) < 20:
            await asyncio.sleep(0.01)
        killed = time.time()
        leader.child.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(burst, 120)
        took_over = pg_deployment.polls("second")[0].started
        first_poll = took_over - killed
        # Approved by the new leader: the old one may have answered just before dying.
        answered = min(t for t in pg_deployment.paid_at if t >= took_over) - killed
        print(
            f"\nSIGKILL: the standby polled after {first_poll:.2f} s and approved a "
            f"checkout after {answered:.2f} s (lease {LEASE:.0f} s)"
        )
        assert first_poll <= 15
        assert answered <= 15
        assert len(pg_deployment.charges) == 80
        await pg_deployment.assert_each_payment_credited_once()
        assert await standby.leader_gauge() == 1
        pg_deployment.assert_one_poller_at_a_time()
    finally:
        assert await standby.child.stop() == 0
        await leader.child.process.wait()


async def test_one_of_two_workers_polls_and_hands_over_within_5_s_when_stopped(
    pg_deployment: Deployment,
) -> None:
    leader, standby = await pg_deployment.leader_and_standby()
    try:
        await asyncio.sleep(LEASE * 0.5)  # several renewals and standby attempts
        [*before, after] = await pg_deployment.links(4)
        await asyncio.gather(*(pg_deployment.buy(*sale) for sale in before))
        assert pg_deployment.polls("first")
        assert pg_deployment.polls("second") == []
        assert await leader.leader_gauge() == 1
        assert await standby.leader_gauge() == 0
        [holder] = re.findall(r'"holder": "([^"]+)", "lease"', leader.child.log)
        assert f'"leader": "{holder}"' in standby.child.log  # says who it waits for

        stopped = time.time()
        leader.child.process.send_signal(signal.SIGTERM)
        await leader.child.wait_for_log("Polling stopped")
        await pg_deployment.buy(*after)  # only the new leader can approve this one
        answered = pg_deployment.paid_at[-1] - stopped
        first_poll = pg_deployment.polls("second")[0].started - stopped
        print(
            f"\nSIGTERM: the standby polled after {first_poll:.2f} s and approved a "
            f"checkout after {answered:.2f} s"
        )
        assert first_poll <= 5
        assert answered <= 5
        assert await leader.child.stop() == 0
        assert "worker.lease_released" in leader.child.log
        assert await standby.leader_gauge() == 1
        await pg_deployment.assert_each_payment_credited_once()

        # The old leader comes back as the standby.
        again = await pg_deployment.start("first-again")
        await again.child.wait_for_log("worker.standing_by", timeout=60)
        assert await again.leader_gauge() == 0
        assert pg_deployment.polls("first-again") == []
        assert await again.child.stop() == 0
        pg_deployment.assert_one_poller_at_a_time()
    finally:
        assert await standby.child.stop() == 0
        leader.child.kill()
    assert "polling.conflict" not in leader.child.log + standby.child.log


async def test_a_leader_cut_off_from_the_database_stops_polling_before_its_lease_expires(
    pg_deployment: Deployment,
) -> None:
    proxy = TcpProxy(*pg_address(pg_deployment.db_url))
    through_proxy = with_port(pg_deployment.db_url, await proxy.start())
    leader = await pg_deployment.start("first", through_proxy)
    await leader.child.wait_for_log("Start polling", timeout=60)
    standby = await pg_deployment.start("second")
    await standby.child.wait_for_log("worker.standing_by", timeout=60)
    try:
        await asyncio.sleep(LEASE * 0.3)
        proxy.hang()  # the leader's queries wait forever; Telegram still answers it
        expires = (await lease_until(pg_deployment.db_url)).timestamp()
        await pg_deployment.first_poll("second", timeout=LEASE * 2)
        await leader.child.wait_for_log("worker.lease_lost")
        last = pg_deployment.polls("first")[-1]
        first = pg_deployment.polls("second")[0]
        assert last.ended is not None
        print(
            f"\ncut off: the leader stopped polling {expires - last.ended:.2f} s before its "
            f"lease expired; the standby polled {first.started - expires:.2f} s after it"
        )
        assert last.outcome == "abandoned"  # its long poll was cancelled, not finished
        assert last.ended < expires - 1
        assert first.started >= expires
        [sale] = await pg_deployment.links(1)
        await pg_deployment.buy(*sale)  # the new leader sells
        proxy.restore()  # the old leader is back, as a standby
        await wait_for_count(leader.child, "worker.standing_by", 0)
        await asyncio.sleep(LEASE * 0.3)
        assert pg_deployment.polls("first")[-1] is last
        assert await leader.leader_gauge() == 0
        assert await standby.leader_gauge() == 1
        pg_deployment.assert_one_poller_at_a_time()
        await pg_deployment.assert_each_payment_credited_once()
    finally:
        proxy.restore()
        assert await leader.child.stop() == 0
        assert await standby.child.stop() == 0
        await proxy.stop()


async def test_two_workers_on_one_sqlite_file_share_the_polling(
    sqlite_deployment: Deployment,
) -> None:
    leader, standby = await sqlite_deployment.leader_and_standby()
    try:
        sales = await sqlite_deployment.links(3)
        await asyncio.gather(*(sqlite_deployment.buy(*sale) for sale in sales[:2]))
        assert sqlite_deployment.polls("second") == []
        assert await leader.leader_gauge() == 1
        assert await standby.leader_gauge() == 0
        stopped, stopped_wall = time.monotonic(), time.time()
        leader.child.process.send_signal(signal.SIGTERM)
        await leader.child.wait_for_log("Polling stopped")
        await sqlite_deployment.buy(*sales[2])
        answered = time.monotonic() - stopped
        first_poll = sqlite_deployment.polls("second")[0].started - stopped_wall
        print(
            f"\nSQLite, SIGTERM: the standby polled after {first_poll:.2f} s and approved "
            f"a checkout after {answered:.2f} s"
        )
        assert first_poll <= 5
        assert answered <= 5
        assert await leader.child.stop() == 0
        assert await standby.leader_gauge() == 1
        sqlite_deployment.assert_one_poller_at_a_time()
        await sqlite_deployment.assert_each_payment_credited_once()
    finally:
        assert await standby.child.stop() == 0
        leader.child.kill()


async def test_a_shorter_lease_set_for_both_workers_shortens_the_takeover(
    sqlite_deployment: Deployment,
) -> None:
    lease = 2
    leader, standby = await sqlite_deployment.leader_and_standby(LEADER_LEASE=lease)
    try:
        [sale] = await sqlite_deployment.links(1)
        leader.child.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await sqlite_deployment.buy(*sale)
        answered = time.monotonic() - killed
        print(
            f"\nSQLite, SIGKILL, LEADER_LEASE={lease}: a checkout approved after {answered:.2f} s"
        )
        assert answered <= lease * 1.1 + 1  # the lease, a standby's retry, and a poll
        sqlite_deployment.assert_one_poller_at_a_time()
        await sqlite_deployment.assert_each_payment_credited_once()
    finally:
        assert await standby.child.stop() == 0
        await leader.child.process.wait()


async def wait_for_count(child: Child, needle: str, more_than: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while child.log.count(needle) <= more_than:
        assert time.monotonic() < deadline, child.log[-3000:]
        await asyncio.sleep(0.1)
