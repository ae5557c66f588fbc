"""Debits per second: closed-loop clients calling `POST /service/users/{id}/debits` on
the real run_api.py, each request with a fresh Idempotency-Key, next to the floor
(tests/bench/floor_debits.py) measured before and after ours and averaged.

The debits are spread over a thousand users with ample balances, as an app's purchases
are; ours and the floor spend from separate users, because the floor writes no ledger
rows. After ours the database is checked: one debit and one ledger row per 201 answer,
and the balances down by exactly what was answered.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from models.infra.db import close_database, open_database
from models.kinds import EntryKind
from models.tables import Debit, LedgerEntry, User
from tests.bench.procfs import cpu_seconds
from tests.processes import Child, free_port

if TYPE_CHECKING:
    from tests.bench.__main__ import Bench

SERVICE_KEY = "bench_service_key_" + "s" * 32
USERS = 1000
BALANCE = 10**12
AMOUNT = 1
BODY = json.dumps({"amount": AMOUNT, "reason": "bench: a gift"}).encode()
# Far from the ids the top-up parts create (700,000 and up).
OURS_FIRST = 9_100_000_000
FLOOR_FIRST = 9_200_000_000


@dataclass
class DebitRate:
    rps: float
    p99: float
    errors: int
    answered: int  # 201s, the warm-up's included
    cpu: float  # seconds of the server's CPU per debit answered in the measured run

    def average(self, other: DebitRate) -> DebitRate:
        return DebitRate(
            (self.rps + other.rps) / 2,
            (self.p99 + other.p99) / 2,
            self.errors + other.errors,
            self.answered + other.answered,
            (self.cpu + other.cpu) / 2,
        )


async def fund(db_url: str, first: int) -> None:
    """USERS users with BALANCE Stars each, credited through the ledger as usual."""
    await open_database(db_url, pool_size=2)
    try:
        ids = range(first, first + USERS)
        await User.bulk_create([User(id=i, stars_balance=BALANCE) for i in ids])
        await LedgerEntry.bulk_create(
            [
                LedgerEntry(
                    user_id=i,
                    amount=BALANCE,
                    kind=EntryKind.DEV_CREDIT,
                    stars_balance_after=BALANCE,
                    note="bench",
                )
                for i in ids
            ],
            batch_size=500,
        )
    finally:
        await close_database()


async def check_ours(db_url: str, answered: int) -> None:
    """Money neither lost nor doubled under the load: every 201 is one debit and one ledger
    row, and the balances went down by exactly that."""
    await open_database(db_url, pool_size=2)
    try:
        mine = {"user_id__gte": OURS_FIRST, "user_id__lt": OURS_FIRST + USERS}
        debits = await Debit.filter(**mine).count()
        entries = await LedgerEntry.filter(**mine, kind=EntryKind.DEBIT).count()
        users = await User.filter(id__gte=OURS_FIRST, id__lt=OURS_FIRST + USERS)
    finally:
        await close_database()
    expected = USERS * BALANCE - answered * AMOUNT
    assert debits == entries == answered, (debits, entries, answered)
    total = sum(user.stars_balance for user in users)
    assert total == expected, (total, expected)


async def serve(bench: Bench, script: str, db_url: str) -> tuple[Child, str]:
    port = free_port()
    child = await bench.child(
        script, f"debits{port}", DATABASE_URL=db_url, API_PORT=port, SERVICE_API_KEYS=SERVICE_KEY
    )
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            try:
                async with http.get(f"{url}/health") as response:
                    if response.status == 200:
                        return child, url
            except aiohttp.ClientError:
                pass
            assert child.process.returncode is None, child.log[-2000:]
            await asyncio.sleep(0.1)
    raise AssertionError(f"{script} did not start: {child.log[-2000:]}")


async def closed_loop(
    url: str, users: Iterator[int], clients: int, seconds: float
) -> tuple[float, float, int, int]:
    """(debits per second, p99 seconds, errors, 201s) of `clients` clients for `seconds`."""
    gc.collect()  # as tests.bench's quiet_heap: no full collection stalls the load
    gc.freeze()
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            headers = {
                "Authorization": f"Bearer {SERVICE_KEY}",
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            }
            began = time.perf_counter()
            async with http.post(
                f"{url}/service/users/{next(users)}/debits", data=BODY, headers=headers
            ) as response:
                await response.read()
                if response.status == 201:
                    latencies.append(time.perf_counter() - began)
                else:
                    errors += 1

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else float("nan")
    return len(latencies) / seconds, p99, errors, len(latencies)


async def debit_rate(bench: Bench, script: str, db_url: str, first_user: int) -> DebitRate:
    """One server, warmed up for a fifth of the run (as the top-up parts), then measured."""
    child, url = await serve(bench, script, db_url)
    users = itertools.cycle(range(first_user, first_user + USERS))
    clients, seconds = bench.sizes.clients, bench.sizes.seconds
    try:
        *_, warm_errors, warm = await closed_loop(url, users, clients, seconds / 5)
        cpu_before = cpu_seconds(child.process.pid)
        rps, p99, errors, answered = await closed_loop(url, users, clients, seconds)
        cpu = (cpu_seconds(child.process.pid) - cpu_before) / max(1, answered)
    finally:
        await bench.stop(child)
    return DebitRate(rps, p99, warm_errors + errors, warm + answered, cpu)


async def measure(bench: Bench, db_url: str, label: str) -> None:
    await fund(db_url, OURS_FIRST)
    await fund(db_url, FLOOR_FIRST)
    before = await debit_rate(bench, "tests.bench.floor_debits", db_url, FLOOR_FIRST)
    ours = await debit_rate(bench, "run_api.py", db_url, OURS_FIRST)
    after = await debit_rate(bench, "tests.bench.floor_debits", db_url, FLOOR_FIRST)
    await check_ours(db_url, ours.answered)
    print(
        f"  {label} floor before ours {before.rps:.0f}/s, after {after.rps:.0f}/s "
        f"(errors: {before.errors + after.errors})"
    )
    floor = before.average(after)
    c = bench.sizes.clients
    bench.row(
        f"debits per second, {c} clients, {label}",
        f"{ours.rps:.0f}/s",
        f"{floor.rps:.0f}/s",
        f"{ours.rps / floor.rps:.0%}",
        "",
    )
    bench.row(
        f"debit p99, {c} clients, {label}",
        f"{ours.p99 * 1000:.0f} ms",
        f"{floor.p99 * 1000:.0f} ms",
        f"{ours.p99 / floor.p99:.2f}x",
        f"errors: {ours.errors}",
    )
    # What the throughput cannot show on a busy machine: the server's own CPU per debit.
    bench.row(
        f"API CPU per debit, {label}",
        f"{ours.cpu * 1e6:.0f} µs",
        f"{floor.cpu * 1e6:.0f} µs",
        f"{ours.cpu / floor.cpu:.2f}x",
        "",
    )
