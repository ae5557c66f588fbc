"""Benchmark the real run_bot.py and run_api.py against the Bot API emulator.

    python -m tests.bench            # the full run (about two minutes)
    python -m tests.bench --quick    # a few seconds, small numbers: a smoke run
    python -m tests.bench --log-level WARNING   # the same with quieter logs, to compare

Our processes run as shipped: the default LOG_LEVEL and LOG_FORMAT (their log goes to a
file, as under systemd or a container), unless --log-level or --log-format says otherwise.

Needs PostgreSQL (`TEST_POSTGRES_URL`, default postgres://postgres@127.0.0.1:5432/postgres).
Each figure is printed next to its floor, measured in the same run on the same machine:
a bare aiogram bot (tests/bench/floor_bot.py) and a bare aiohttp pass-through
(tests/bench/floor_api.py), and for debits a bare debit transaction (tests/bench/floor_debits.py).
It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bot.cli.tables import table
from models.infra.db import apply_migrations, close_database, open_database
from models.infra.settings import LogFormat, Settings
from models.kinds import OrderStatus
from models.tables import LedgerEntry, TopUpOrder, User
from models.values import utcnow
from tests.bench import debits
from tests.bench.remote import REMOTE_PARTS, run_remote
from tests.emulator import BotApiEmulator
from tests.helpers import TOKEN, tma
from tests.processes import Child, free_port, start

os.environ.setdefault("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")

from tests.databases import create_pg_database, drop_pg_database, pg_database_url


@dataclass
class Sizes:
    checkouts: int
    payments: int
    seconds: float
    clients: int
    rate: int


@dataclass
class TopUpRate:
    rps: float
    p99: float
    errors: int
    cpu: float  # seconds of API CPU per top-up

    def average(self, other: TopUpRate) -> TopUpRate:
        return TopUpRate(
            (self.rps + other.rps) / 2,
            (self.p99 + other.p99) / 2,
            self.errors + other.errors,
            (self.cpu + other.cpu) / 2,
        )


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its children so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / ticks
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            total += sum(cpu_seconds(int(child)) for child in children.read().split())
    except OSError:  # gone, or not Linux
        pass
    return total


WARM_UP = 50
BUYERS = 10_000
PARTS = ["precheckout", "crediting", "topups", "open-loop", "debits"]
FULL = Sizes(checkouts=500, payments=2000, seconds=5.0, clients=32, rate=200)
QUICK = Sizes(checkouts=40, payments=100, seconds=1.0, clients=8, rate=50)


def quiet_heap() -> None:
    """Before each measurement: the emulator in this process keeps every call and
    invoice, and a full collection walking them stalls the load it generates (later
    runs more than earlier ones). Frozen objects are not walked."""
    gc.collect()
    gc.freeze()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def user(i: int) -> dict[str, Any]:
    return {"id": 700_000 + i, "first_name": f"U{i}", "language_code": "en"}


class Bench:
    def __init__(
        self,
        sizes: Sizes,
        workdir: Path,
        log_level: str | None = None,
        log_format: str | None = None,
    ) -> None:
        self.sizes = sizes
        self.workdir = workdir
        # None: the variable is not set, so the process runs with the shipped default.
        self.log_level, self.log_format = log_level, log_format
        self.emulator = BotApiEmulator()
        self.rows: list[tuple[str, str, str, str, str]] = []

    # -------------------------------------------------------------- plumbing

    async def child(self, script: str, name: str, *args: str, **env: Any) -> Child:
        env = {
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": self.emulator.url,
            "LOG_LEVEL": self.log_level,
            "LOG_FORMAT": self.log_format,
            "RECONCILE_INTERVAL": 3600,
            **env,
        }
        return await start(script, self.workdir / f"{name}.log", *args, **env)

    async def bot(self, script: str, db_url: str) -> Child:
        before = len(self.emulator.bot(TOKEN).calls_of("getUpdates"))
        child = await self.child(script, script.replace("/", "_"), DATABASE_URL=db_url)
        while len(self.emulator.bot(TOKEN).calls_of("getUpdates")) <= before:
            assert child.process.returncode is None, child.log[-2000:]
            await asyncio.sleep(0.05)
        return child

    async def api(self, script: str, db_url: str, *args: str) -> tuple[Child, str]:
        port = free_port()
        child = await self.child(
            script,
            f"api{port}",
            *args,
            DATABASE_URL=db_url,
            API_PORT=port,
        )
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                try:
                    async with http.post(
                        f"{url}/payments/top-up", json={"amount": 100}, headers=tma(user(0))
                    ) as response:
                        if response.status in (200, 201):
                            break
                except aiohttp.ClientError:
                    pass
                assert child.process.returncode is None, child.log[-2000:]
                await asyncio.sleep(0.1)
        return child, url

    @staticmethod
    async def stop(child: Child) -> None:
        await child.stop()

    async def orders(self, db_url: str, count: int) -> list[tuple[str, dict[str, Any]]]:
        """Pending orders straight into the database, with their invoice links."""
        await open_database(db_url, pool_size=2)
        try:
            users = [user(i) for i in range(count)]
            await User.bulk_create([User(id=u["id"]) for u in users], ignore_conflicts=True)
            now = utcnow()
            orders = [
                TopUpOrder(
                    id=uuid.uuid4(),
                    user_id=u["id"],
                    amount=100,
                    created_at=now,
                    expires_at=now + timedelta(hours=1),
                    status=OrderStatus.PENDING,
                )
                for u in users
            ]
            await TopUpOrder.bulk_create(orders, batch_size=500)
        finally:
            await close_database()
        return [
            (self.emulator.add_invoice(TOKEN, str(o.id), 100), u)
            for o, u in zip(orders, users, strict=True)
        ]

    def row(self, name: str, ours: str, floor: str, ratio: str, target: str) -> None:
        self.rows.append((name, ours, floor, ratio, target))
        print(f"  {name}: ours {ours}, floor {floor}", flush=True)

    # -------------------------------------------------------------- 1. pre-checkout

    async def checkouts(self, links: list[tuple[str, dict[str, Any]]]) -> list[float]:
        quiet_heap()
        outcomes = await asyncio.gather(*(self.emulator.checkout(link, u) for link, u in links))
        assert all(o.status == "paid" for o in outcomes), {o.status for o in outcomes}
        return [o.answer_seconds or 0.0 for o in outcomes]

    async def precheckout(self, db_url: str) -> None:
        n = self.sizes.checkouts
        links = await self.orders(db_url, n)
        # A sales spike meets a bot that has been running: warm each one up first.
        ours_bot = await self.bot("run_bot.py", db_url)
        await self.checkouts(links[:WARM_UP])
        ours = await self.checkouts(links)
        await self.stop(ours_bot)
        floor_bot = await self.bot("tests.bench.floor_bot", db_url)
        await self.checkouts(links[:WARM_UP])
        floor = await self.checkouts(links)
        await self.stop(floor_bot)
        for q, label in ((0.5, "p50"), (0.99, "p99")):
            a, b = pct(ours, q) * 1000, pct(floor, q) * 1000
            self.row(
                f"pre-checkout answer {label}, {n} at once",
                f"{a:.0f} ms",
                f"{b:.0f} ms",
                f"{a / b:.2f}x",
                "<= 1.5x" if label == "p99" else "",
            )

    # -------------------------------------------------------------- 2. crediting

    async def credit_rate(self, db_url: str) -> None:
        n = self.sizes.payments
        links = await self.orders(db_url, n)
        warm = await self.orders(db_url, WARM_UP)
        state = self.emulator.bot(TOKEN)
        ours_bot = await self.bot("run_bot.py", db_url)
        await self.paid(db_url, warm)
        floor_warm = len(state.messages)
        await open_database(db_url, pool_size=2)
        try:
            before = await LedgerEntry.all().count()
            quiet_heap()
            started = time.perf_counter()
            for link, u in links:
                self.emulator.charge(link, u)
            while await LedgerEntry.all().count() < before + n:
                await asyncio.sleep(0.02)
            ours = n / (time.perf_counter() - started)
        finally:
            await close_database()
        await self.stop(ours_bot)
        floor_bot = await self.bot("tests.bench.floor_bot", db_url)
        for link, u in warm:
            self.emulator.charge(link, u)
        while len(state.messages) < floor_warm + WARM_UP:
            await asyncio.sleep(0.02)
        sent = len(state.messages)
        quiet_heap()
        started = time.perf_counter()
        for link, u in links:
            self.emulator.charge(link, u)
        while len(state.messages) < sent + n:
            await asyncio.sleep(0.02)
        floor = n / (time.perf_counter() - started)
        await self.stop(floor_bot)
        self.row(
            f"payments credited per second, burst of {n}",
            f"{ours:.0f}/s",
            f"{floor:.0f}/s",
            f"{ours / floor:.0%}",
            ">= 70%",
        )

    async def paid(self, db_url: str, links: list[tuple[str, dict[str, Any]]]) -> None:
        """Pay these links and wait until the worker has credited them all."""
        await open_database(db_url, pool_size=2)
        try:
            before = await LedgerEntry.all().count()
            for link, u in links:
                self.emulator.charge(link, u)
            while await LedgerEntry.all().count() < before + len(links):
                await asyncio.sleep(0.02)
        finally:
            await close_database()

    # -------------------------------------------------------------- 3. top-up throughput

    @staticmethod
    def buyers(first: int) -> Iterator[dict[str, str]]:
        """Signed initData of 10,000 different users, round and round: in a sales
        spike each top-up comes from a different person, under the default limits."""
        return itertools.cycle([tma(user(first + i)) for i in range(BUYERS)])

    async def closed_loop(
        self, url: str, buyers: Iterator[dict[str, str]], seconds: float
    ) -> tuple[float, float, int]:
        quiet_heap()
        latencies: list[float] = []
        errors = 0
        stop_at = time.perf_counter() + seconds

        async def client(http: aiohttp.ClientSession) -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                headers = next(buyers)
                began = time.perf_counter()
                async with http.post(
                    f"{url}/payments/top-up", json={"amount": 100}, headers=headers
                ) as response:
                    await response.read()
                    if response.status in (200, 201):
                        latencies.append(time.perf_counter() - began)
                    else:
                        errors += 1

        connector = aiohttp.TCPConnector(limit=self.sizes.clients)
        async with aiohttp.ClientSession(connector=connector) as http:
            await asyncio.gather(*(client(http) for _ in range(self.sizes.clients)))
        return len(latencies) / seconds, pct(latencies, 0.99), errors

    async def top_up_rate(self, api: Child, url: str, first_buyer: int) -> TopUpRate:
        """Closed-loop top-ups after a warm-up of a fifth of the run (as each bot gets)."""
        await self.closed_loop(url, self.buyers(first_buyer + 50_000), self.sizes.seconds / 5)
        cpu_before = cpu_seconds(api.process.pid)
        seconds = self.sizes.seconds
        rps, p99, errors = await self.closed_loop(url, self.buyers(first_buyer), seconds)
        cpu = cpu_seconds(api.process.pid) - cpu_before
        return TopUpRate(rps, p99, errors, cpu / max(1.0, rps * seconds))

    async def floor_top_up_rate(self, db_url: str, first_buyer: int) -> TopUpRate:
        floor_api, floor_url = await self.api("tests.bench.floor_api", db_url)
        try:
            return await self.top_up_rate(floor_api, floor_url, first_buyer)
        finally:
            await self.stop(floor_api)

    async def throughput(self, db_url: str) -> None:
        c = self.sizes.clients
        # The floor is measured before and after ours and averaged: this machine's
        # speed drifts by tens of percent over a minute.
        before = await self.floor_top_up_rate(db_url, 300_000)
        ours = []
        for workers in (1, 2):
            args = ("--workers", str(workers)) if workers > 1 else ()
            ours_api, ours_url = await self.api("run_api.py", db_url, *args)
            ours.append(await self.top_up_rate(ours_api, ours_url, workers * 100_000))
            await self.stop(ours_api)
        after = await self.floor_top_up_rate(db_url, 400_000)
        print(f"  pass-through before ours {before.rps:.0f}/s, after {after.rps:.0f}/s")
        floor = before.average(after)
        for workers, rate in zip((1, 2), ours, strict=True):
            suffix = "" if workers == 1 else f", {workers} API processes"
            self.row(
                f"top-ups per second, {c} clients{suffix}",
                f"{rate.rps:.0f}/s",
                f"{floor.rps:.0f}/s",
                f"{rate.rps / floor.rps:.0%}",
                ">= 50%" if workers == 1 else "",
            )
            self.row(
                f"top-up p99, {c} clients{suffix}",
                f"{rate.p99 * 1000:.0f} ms",
                f"{floor.p99 * 1000:.0f} ms",
                f"{rate.p99 / floor.p99:.2f}x",
                f"errors: {rate.errors}",
            )
        # Where the time goes: CPU the API process(es) used per top-up in the run above.
        self.row(
            "API CPU per top-up, 1 process",
            f"{ours[0].cpu * 1e6:.0f} µs",
            f"{floor.cpu * 1e6:.0f} µs",
            f"{ours[0].cpu / floor.cpu:.2f}x",
            "<= 1.5x",
        )

    # -------------------------------------------------------------- 4. open loop

    async def open_loop(self, db_url: str, label: str) -> None:
        rate, seconds = self.sizes.rate, self.sizes.seconds
        total = int(rate * seconds)
        ours_api, url = await self.api("run_api.py", db_url)
        latencies: list[float] = []
        failures = 0
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

            async def one(i: int, at: float) -> None:
                nonlocal failures
                await asyncio.sleep(max(0.0, at - time.perf_counter()))
                began = time.perf_counter()
                try:
                    async with http.post(
                        f"{url}/payments/top-up",
                        json={"amount": 100},
                        headers=tma(user(20_000 + i % 500)),
                    ) as response:
                        await response.read()
                        ok = response.status in (200, 201)
                except aiohttp.ClientError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - began)
                else:
                    failures += 1

            quiet_heap()
            t0 = time.perf_counter() + 0.2
            await asyncio.gather(*(one(i, t0 + i / rate) for i in range(total)))
        await self.stop(ours_api)
        p99 = pct(latencies, 0.99) * 1000 if latencies else float("nan")
        self.row(
            f"top-up p99 at {rate}/s open loop, {label}",
            f"{p99:.0f} ms",
            "",
            f"{len(latencies)}/{total} ok",
            "< 250 ms, all ok",
        )

    # -------------------------------------------------------------- run

    async def run(self, parts: list[str]) -> None:
        await self.emulator.start()
        name = await create_pg_database()
        pg = pg_database_url(name)
        sqlite = f"sqlite://{self.workdir}/bench.sqlite3"
        try:
            await apply_migrations(pg)
            await apply_migrations(sqlite)
            if "precheckout" in parts:
                print("1. pre-checkout latency", flush=True)
                await self.precheckout(pg)
            if "crediting" in parts:
                print("2. crediting rate", flush=True)
                await self.credit_rate(pg)
            if "topups" in parts:
                print("3. top-up throughput", flush=True)
                await self.throughput(pg)
            if "open-loop" in parts:
                print("4. top-up latency at a fixed rate", flush=True)
                await self.open_loop(pg, "PostgreSQL")
                await self.open_loop(sqlite, "SQLite")
            if "debits" in parts:
                print("5. debits per second", flush=True)
                await debits.measure(self, pg, "PostgreSQL")
                await debits.measure(self, sqlite, "SQLite")
            await run_remote(self, parts, pg, quick=self.sizes is QUICK)
        finally:
            await self.emulator.stop()
            await drop_pg_database(name)

    def table(self) -> str:
        return table(("measure", "ours", "floor", "ours/floor", "target"), self.rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small numbers, a few seconds")
    parts = PARTS + REMOTE_PARTS
    parser.add_argument(
        "--only", nargs="+", choices=parts, default=parts, metavar="PART", help=f"of {parts}"
    )
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="LOG_LEVEL of our processes (default: not set, the shipped INFO)",
    )
    parser.add_argument(
        "--log-format",
        choices=[str(f) for f in LogFormat],
        help="LOG_FORMAT of our processes (default: not set, the shipped default)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stars-bench-") as workdir:
        sizes = QUICK if args.quick else FULL
        bench = Bench(sizes, Path(workdir), args.log_level, args.log_format)
        asyncio.run(bench.run(args.only))
    cpus = os.cpu_count()
    defaults = Settings.model_fields
    level = args.log_level or f"{defaults['log_level'].default} (default)"
    fmt = args.log_format or f"{defaults['log_format'].default} (default)"
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, {cpus} cores, "
        f"Python {platform.python_version()}, PostgreSQL on 127.0.0.1, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"ours with LOG_LEVEL={level}, LOG_FORMAT={fmt}, logging to a file"
        f"{' (quick run: figures are not meaningful)' if args.quick else ''}"
    )
    print(bench.table())


if __name__ == "__main__":
    main()
