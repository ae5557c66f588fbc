"""The benchmark with Telegram far away: every Bot API method but getUpdates answers
after 150 ms, give or take 20% (the emulator's latency).

    python -m tests.bench --only far-precheckout far-crediting far-topups overload

Far away, what limits a process changes: each call holds a connection to Telegram for
the whole round trip, so a pool that was ample on loopback caps the rate, and work
piles up in flight. These parts measure, next to floors in the same run:

- far-precheckout: 500 pre-checkout queries at once, ours and the bare bot;
- far-crediting: a burst of 2,000 payments, ours and the bare bot (which replies to each);
  each bot is started once for both bursts;
- far-topups: top-ups open loop at 800 a second for 10 s, ours and the pass-through, with
  the CPU each spends per top-up;
- overload: the API's capacity (as many clients as it takes in flight, closed loop),
  then twice that offered open loop: what is taken keeps its latency, the rest is told
  503 with Retry-After at once.

Each part also shows the connections open to Telegram and the memory (RSS) of the
process under test, at rest and at the peak.
"""

from __future__ import annotations

import asyncio
import gc
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

import aiohttp

from models.infra.db import close_database, open_database
from models.infra.settings import Settings
from models.tables import LedgerEntry
from tests.bench.load import Load, Outcomes, cycle, top_up_requests
from tests.bench.procfs import cpu_seconds, rss_bytes
from tests.emulator import BotApiEmulator
from tests.helpers import TOKEN
from tests.processes import Child

LATENCY = 0.15
FAR = "Telegram 150 ms away"
REMOTE_PARTS = ["far-precheckout", "far-crediting", "far-topups", "overload"]
WARM_UP = 50
# Defaults of the settings these parts exercise, as a deployment gets them.
MAX_IN_FLIGHT = Settings.model_fields["api_max_in_flight"].default


@dataclass
class Sizes:
    rate: int  # top-ups a second, open loop
    seconds: float
    capacity_seconds: float
    overload_seconds: float
    floor_after: bool  # the pass-through again after ours (the machine's speed drifts)


FULL = Sizes(rate=800, seconds=10.0, capacity_seconds=5.0, overload_seconds=5.0, floor_after=True)
QUICK = Sizes(rate=40, seconds=1.0, capacity_seconds=1.0, overload_seconds=1.0, floor_after=False)


class Bench(Protocol):
    """What these parts use of tests.bench.__main__.Bench."""

    emulator: BotApiEmulator
    sizes: Any  # its Sizes: checkouts, payments

    async def bot(self, script: str, db_url: str) -> Child: ...
    async def api(self, script: str, db_url: str, *args: str) -> tuple[Child, str]: ...
    async def stop(self, child: Child) -> None: ...
    async def orders(self, db_url: str, count: int) -> list[tuple[str, dict[str, Any]]]: ...
    async def checkouts(self, links: list[tuple[str, dict[str, Any]]]) -> list[float]: ...
    def row(self, name: str, ours: str, floor: str, ratio: str, target: str) -> None: ...


def mb(value: int) -> str:
    return f"{value / 2**20:.0f} MB"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def verdict(target: str, met: bool) -> str:
    return f"{target} {'✔' if met else '✘'}"


class Watch(AbstractAsyncContextManager["Watch"]):
    """A process's memory and the connections open to the emulator: once on entry (at
    rest) and every 10 ms until exit (the peak)."""

    def __init__(self, emulator: BotApiEmulator, pid: int) -> None:
        self.emulator, self.pid = emulator, pid
        self.rest_rss = self.peak_rss = 0
        self.rest_connections = self.peak_connections = 0
        self._task: asyncio.Task[None] | None = None

    def _sample(self) -> None:
        self.peak_rss = max(self.peak_rss, rss_bytes(self.pid))
        self.peak_connections = max(self.peak_connections, self.emulator.connections)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.01)
            self._sample()

    async def __aenter__(self) -> Watch:
        # The emulator in this process keeps every call: frozen, a full collection
        # does not walk them in the middle of the load (as tests.bench's quiet_heap).
        gc.collect()
        gc.freeze()
        self.rest_rss = self.peak_rss = rss_bytes(self.pid)
        self.rest_connections = self.peak_connections = self.emulator.connections
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        self._sample()

    def rss(self) -> str:
        return f"{mb(self.rest_rss)} → {mb(self.peak_rss)}"

    def connections(self) -> str:
        return f"{self.rest_connections} → {self.peak_connections}"


def resource_rows(bench: Bench, what: str, process: str, ours: Watch, floor: Watch | None) -> None:
    bench.row(
        f"connections to Telegram at rest → peak, {what}",
        ours.connections(),
        floor.connections() if floor else "",
        "",
        "",
    )
    bench.row(
        f"{process} RSS at rest → peak, {what}",
        ours.rss(),
        floor.rss() if floor else "",
        "",
        "",
    )


BOTS = ("run_bot.py", "tests.bench.floor_bot")


@dataclass
class BotRun:
    answers: list[float] = field(default_factory=list)
    credited: float = 0.0
    checkout_watch: Watch | None = None
    payment_watch: Watch | None = None

    def watch(self, burst: int) -> Watch:
        found = (self.checkout_watch, self.payment_watch)[burst]
        assert found is not None
        return found


class Remote:
    def __init__(self, bench: Bench, sizes: Sizes) -> None:
        self.bench = bench
        self.sizes = sizes
        self.next_buyer = 1_000_000  # each top-up from a buyer never seen before

    def buyers(self, count: int) -> list[bytes]:
        first, self.next_buyer = self.next_buyer, self.next_buyer + count
        return top_up_requests(first, count)

    # -------------------------------------------------------------- the bot

    async def bots(self, db_url: str, checkouts: bool, payments: bool) -> None:
        """Ours and the bare bot, each started once for both bursts (a bot takes
        seconds to start): warmed up, then 500 pre-checkouts at once, then 2,000
        payments."""
        bench = self.bench
        n_checkouts, n_payments = bench.sizes.checkouts, bench.sizes.payments
        links = await bench.orders(db_url, n_checkouts) if checkouts else []
        paid = await bench.orders(db_url, n_payments) if payments else []
        warm = {script: await bench.orders(db_url, WARM_UP) for script in BOTS}
        found: dict[str, BotRun] = {}
        for script in BOTS:
            run = found[script] = BotRun()
            bot = await bench.bot(script, db_url)
            try:
                if checkouts:
                    await bench.checkouts(links[:WARM_UP])
                    async with Watch(bench.emulator, bot.process.pid) as run.checkout_watch:
                        run.answers = await bench.checkouts(links)
                if payments:
                    await self.pay(db_url, script, warm[script])
                    async with Watch(bench.emulator, bot.process.pid) as run.payment_watch:
                        run.credited = await self.pay(db_url, script, paid)
            finally:
                await bench.stop(bot)
        ours, floor = found["run_bot.py"], found["tests.bench.floor_bot"]
        if checkouts:
            for q, label in ((0.5, "p50"), (0.99, "p99")):
                a, b = pct(ours.answers, q) * 1000, pct(floor.answers, q) * 1000
                bench.row(
                    f"pre-checkout answer {label}, {n_checkouts} at once, {FAR}",
                    f"{a:.0f} ms",
                    f"{b:.0f} ms",
                    f"{a / b:.2f}x",
                    verdict("<= 1.5x", a <= 1.5 * b) if label == "p99" else "",
                )
            resource_rows(
                bench, f"{n_checkouts} pre-checkouts", "bot", ours.watch(0), floor.watch(0)
            )
        if payments:
            bench.row(
                f"payments credited per second, burst of {n_payments}, {FAR}",
                f"{ours.credited:.0f}/s",
                f"{floor.credited:.0f}/s",
                f"{ours.credited / floor.credited:.0%}",
                verdict(">= 70%", ours.credited >= 0.7 * floor.credited),
            )
            resource_rows(bench, f"{n_payments} payments", "bot", ours.watch(1), floor.watch(1))

    async def pay(
        self, db_url: str, script: str, links: list[tuple[str, dict[str, Any]]]
    ) -> float:
        """Pay every link at once; payments per second until ours credited them all (a
        ledger row each) or the bare bot replied to each (a message each)."""
        bench = self.bench
        state = bench.emulator.bot(TOKEN)
        n = len(links)
        if script == "run_bot.py":
            await open_database(db_url, pool_size=2)
            try:
                before = await LedgerEntry.all().count()
                started = time.perf_counter()
                for link, user in links:
                    bench.emulator.charge(link, user)
                while await LedgerEntry.all().count() < before + n:
                    await asyncio.sleep(0.02)
            finally:
                await close_database()
        else:
            sent = len(state.messages)
            started = time.perf_counter()
            for link, user in links:
                bench.emulator.charge(link, user)
            while len(state.messages) < sent + n:
                await asyncio.sleep(0.02)
        return n / (time.perf_counter() - started)

    # -------------------------------------------------------------- the API

    async def open_loop(self, script: str, db_url: str) -> tuple[Outcomes, float, Watch]:
        """Top-ups at the rate for the time, after a warm-up of a fifth of it; the API's
        CPU per top-up that succeeded."""
        rate, seconds = self.sizes.rate, self.sizes.seconds
        api, url = await self.bench.api(script, db_url)
        load = Load("127.0.0.1", int(url.rsplit(":", 1)[1]))
        try:
            await load.open_loop(cycle(self.buyers(int(rate * seconds / 5))), rate, seconds / 5)
            cpu_before = cpu_seconds(api.process.pid)
            async with Watch(self.bench.emulator, api.process.pid) as watch:
                requests = cycle(self.buyers(int(rate * seconds)))
                outcomes = await load.open_loop(requests, rate, seconds)
            cpu = (cpu_seconds(api.process.pid) - cpu_before) / max(1, len(outcomes.ok))
        finally:
            load.close()
            await self.bench.stop(api)
        return outcomes, cpu, watch

    async def top_ups(self, db_url: str) -> None:
        bench = self.bench
        rate, seconds = self.sizes.rate, self.sizes.seconds
        total = int(rate * seconds)
        # The pass-through before and after ours, averaged: the machine's speed drifts.
        before, before_cpu, floor_watch = await self.open_loop("tests.bench.floor_api", db_url)
        ours, ours_cpu, ours_watch = await self.open_loop("run_api.py", db_url)
        after, after_cpu = before, before_cpu
        if self.sizes.floor_after:
            after, after_cpu, _ = await self.open_loop("tests.bench.floor_api", db_url)
        floor_p99 = (pct(before.ok, 0.99) + pct(after.ok, 0.99)) / 2 * 1000
        floor_cpu = (before_cpu + after_cpu) / 2
        p99 = pct(ours.ok, 0.99) * 1000
        all_ok = len(ours.ok) == total
        bench.row(
            f"top-up p99 at {rate}/s open loop for {seconds:g} s, {FAR}, PostgreSQL",
            f"{p99:.0f} ms ({len(ours.ok)}/{total} ok)",
            f"{floor_p99:.0f} ms ({len(before.ok)}, {len(after.ok)} ok)",
            f"{p99 / floor_p99:.2f}x",
            verdict("<= 330 ms, all ok", p99 <= 330 and all_ok),
        )
        if not all_ok:
            print(f"  ours, not ok: {describe(ours)}")
        bench.row(
            f"API CPU per top-up at {rate}/s, {FAR}",
            f"{ours_cpu * 1e6:.0f} µs",
            f"{floor_cpu * 1e6:.0f} µs",
            f"{ours_cpu / floor_cpu:.2f}x",
            verdict("<= 1.5x", ours_cpu <= 1.5 * floor_cpu),
        )
        resource_rows(bench, f"{rate} top-ups/s", "API", ours_watch, floor_watch)

    async def overload(self, db_url: str) -> None:
        bench = self.bench
        api, url = await bench.api("run_api.py", db_url)
        load = Load("127.0.0.1", int(url.rsplit(":", 1)[1]))
        try:
            # Capacity: as many clients as the API takes in flight, each sending again
            # as soon as it is answered; the warm-up is the same for a fifth of the time.
            clients, seconds = MAX_IN_FLIGHT, self.sizes.capacity_seconds
            await load.closed_loop(cycle(self.buyers(2000)), clients, seconds / 5)
            measured = await load.closed_loop(cycle(self.buyers(20_000)), clients, seconds)
            capacity = len(measured.ok) / measured.seconds
            rate, seconds = 2 * capacity, self.sizes.overload_seconds
            requests = cycle(self.buyers(int(rate * seconds) + 1))
            before = await handler_seconds(url)
            async with Watch(bench.emulator, api.process.pid) as watch:
                outcomes = await load.open_loop(requests, rate, seconds)
            inside = since(before, await handler_seconds(url))
        finally:
            load.close()
            await bench.stop(api)
        goodput = len(outcomes.ok) / seconds
        print(f"  capacity {describe(measured)}; at twice: {describe(outcomes)}")
        print(f"  at twice, inside the API (its histogram): 99% of top-ups within {inside}")
        bench.row(
            f"top-up capacity, {clients} clients closed loop, {FAR}",
            f"{capacity:.0f}/s",
            "",
            f"p99 {pct(measured.ok, 0.99) * 1000:.0f} ms",
            "",
        )
        bench.row(
            f"top-ups done per second, {rate:.0f}/s offered (twice the capacity)",
            f"{goodput:.0f}/s",
            f"{capacity:.0f}/s",
            f"{goodput / capacity:.0%}",
            verdict(">= 75%", goodput >= 0.75 * capacity),
        )
        answered = (
            outcomes.connection_errors == 0
            and outcomes.timeouts == 0
            and outcomes.without_retry_after == 0
            and set(outcomes.statuses) <= {201, 503}
            and outcomes.slowest <= 2.0
        )
        shed = outcomes.statuses.get(503, 0)
        bench.row(
            "slowest answer at twice the capacity",
            f"{outcomes.slowest:.2f} s",
            "",
            f"{shed}/{outcomes.sent} shed",
            verdict("<= 2 s, 201 or 503 + Retry-After, no errors", answered),
        )
        bench.row(
            "top-up p99 of those taken, at twice the capacity",
            f"{pct(outcomes.ok, 0.99) * 1000:.0f} ms",
            "",
            "",
            "",
        )
        resource_rows(bench, "twice the capacity", "API", watch, None)


async def handler_seconds(url: str) -> dict[float, float]:
    """The API's own `stars_topup_request_seconds` histogram: bucket bound -> count."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        text = await response.text()
    buckets = {}
    for line in text.splitlines():
        if line.startswith("stars_topup_request_seconds_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def since(before: dict[float, float], after: dict[float, float]) -> str:
    """The smallest bucket bound holding 99% of what was observed in between."""
    total = after[float("inf")] - before.get(float("inf"), 0)
    for bound in sorted(after):
        if after[bound] - before.get(bound, 0) >= 0.99 * total:
            return f"{bound:g} s"
    return "?"


def describe(outcomes: Outcomes) -> str:
    statuses = ", ".join(f"{n}x {status}" for status, n in sorted(outcomes.statuses.items()))
    return (
        f"{statuses or 'no answers'}; {outcomes.connection_errors} connection errors, "
        f"{outcomes.timeouts} timeouts, {outcomes.without_retry_after} 503s without "
        f"Retry-After, slowest {outcomes.slowest:.2f} s; the load generator sent up to "
        f"{outcomes.late * 1000:.0f} ms late"
    )


async def run_remote(bench: Bench, parts: list[str], db_url: str, *, quick: bool) -> None:
    """The parts of REMOTE_PARTS in `parts`, against the emulator made far."""
    if not set(parts) & set(REMOTE_PARTS):
        return
    remote = Remote(bench, QUICK if quick else FULL)
    bench.emulator.set_latency(LATENCY)
    try:
        checkouts, payments = "far-precheckout" in parts, "far-crediting" in parts
        if checkouts or payments:
            print(f"5. pre-checkout latency and crediting rate, {FAR}", flush=True)
            await remote.bots(db_url, checkouts, payments)
        if "far-topups" in parts:
            print(f"6. top-ups at a fixed rate, {FAR}", flush=True)
            await remote.top_ups(db_url)
        if "overload" in parts:
            print(f"7. overload: twice the API's capacity, {FAR}", flush=True)
            await remote.overload(db_url)
    finally:
        bench.emulator.set_latency(0)
