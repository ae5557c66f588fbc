"""What a transaction-mode pooler costs per statement.

    python -m tests.bench.pooler           # about a minute
    python -m tests.bench.pooler --quick   # a few seconds: a smoke run, figures mean nothing

The project's own statements, through its own database set-up, on three routes to one
PostgreSQL database, measured in turns in the same run:

- direct: a plain `postgres://` URL, asyncpg caching a named prepared statement per
  query (the floor);
- direct, no statement cache: the same URL with `statement_cache_size=0`, which is what
  `?pgbouncer=true` switches to, without the pooler (what the cache alone is worth);
- PgBouncer: a real PgBouncer in transaction mode (`tests/pgbouncer.py`) with as many
  server connections as the client pool, and `?pgbouncer=true`.

Needs PostgreSQL (`TEST_POSTGRES_URL`, default postgres://postgres@127.0.0.1:5432/postgres)
and Debian's `pgbouncer`. It prints figures; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from tortoise import Tortoise

from bot.cli.tables import table
from models.infra.db import apply_migrations, close_database, open_database
from models.infra.sql import execute
from models.ledger.credits import CreditStatus, credit_charge
from models.queries.accounts import get_balance
from models.values import Charge
from tests.helpers import cid
from tests.pgbouncer import PgBouncer

os.environ.setdefault("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")

from tests.databases import PG_URL, create_pg_database, drop_pg_database, pg_database_url

POOL = 10  # client connections, and PgBouncer's server connections
CLIENTS = 32  # concurrent tasks in the throughput runs
ROUTES = ["direct", "direct, no statement cache", "PgBouncer"]


@dataclass
class Sizes:
    reads: int  # one client, one after another
    credits: int
    rounds: int  # each route measured this many times, in turns
    seconds: float  # each throughput run


FULL = Sizes(reads=1000, credits=150, rounds=3, seconds=1.5)
QUICK = Sizes(reads=50, credits=10, rounds=1, seconds=0.2)


class Orders:
    """Open orders to credit, one per charge, made before any timing starts."""

    def __init__(self) -> None:
        self.waiting: list[tuple[int, uuid.UUID]] = []
        self.used = 0

    async def make(self, count: int) -> None:
        first, self.used = self.used + 1, self.used + count
        conn = Tortoise.get_connection("default")
        await execute(
            conn,
            "INSERT INTO users (id, stars_balance, created_at, updated_at) "
            "SELECT g, 0, now(), now() FROM generate_series($1::bigint, $2::bigint) AS g",
            first,
            self.used,
        )
        _, rows = await execute(
            conn,
            "INSERT INTO topup_orders (id, user_id, amount, status, created_at, expires_at) "
            "SELECT gen_random_uuid(), g, 100, 'pending', now(), now() + interval '1 day' "
            "FROM generate_series($1::bigint, $2::bigint) AS g RETURNING id, user_id",
            first,
            self.used,
        )
        self.waiting = [(row["user_id"], row["id"]) for row in rows]

    async def credit_one(self) -> None:
        user, order_id = self.waiting.pop()
        charge = Charge(cid(f"bench-{order_id}"), user, 100, str(order_id))
        assert (await credit_charge(charge)).status is CreditStatus.CREDITED


async def one_by_one(count: int, operation: Callable[[], Awaitable[object]]) -> float:
    """Mean microseconds per operation, one after another."""
    started = time.perf_counter()
    for _ in range(count):
        await operation()
    return (time.perf_counter() - started) / count * 1e6


async def per_second(seconds: float, operation: Callable[[], Awaitable[object]]) -> float:
    """Operations completed per second by CLIENTS tasks at once."""
    done = 0
    stop = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await operation()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return done / (time.perf_counter() - started)


async def measure(url: str, sizes: Sizes, orders: Orders) -> dict[str, float]:
    await open_database(url, pool_size=POOL)
    try:
        await one_by_one(50, lambda: get_balance(1))  # warm: connections, plans, caches
        # More orders than the fastest route credits in the run.
        await orders.make(sizes.credits + int(sizes.seconds * 5000))
        figures = {
            "read": await one_by_one(sizes.reads, lambda: get_balance(1)),
            "credit": await one_by_one(sizes.credits, orders.credit_one),
            "reads/s": await per_second(sizes.seconds, lambda: get_balance(1)),
            "credits/s": await per_second(sizes.seconds, orders.credit_one),
        }
        orders.waiting.clear()
        return figures
    finally:
        await close_database()


async def run(sizes: Sizes, workdir: Path) -> list[list[object]]:
    name = await create_pg_database()
    bouncer = PgBouncer(PG_URL, workdir / "pgbouncer", pool_size=POOL)
    bouncer.start()
    try:
        direct = pg_database_url(name)
        await apply_migrations(direct)
        urls = {
            "direct": direct,
            "direct, no statement cache": f"{direct}?statement_cache_size=0",
            "PgBouncer": bouncer.url(name),
        }
        orders = Orders()
        results: dict[str, list[dict[str, float]]] = {route: [] for route in ROUTES}
        for _ in range(sizes.rounds):  # in turns: this machine's speed drifts
            for route in ROUTES:
                results[route].append(await measure(urls[route], sizes, orders))
    finally:
        bouncer.stop()
        await drop_pg_database(name)

    def median(route: str, key: str) -> float:
        return statistics.median(r[key] for r in results[route])

    rows: list[list[object]] = []
    for key, label, unit in [
        ("read", "one read (1 statement), one client", "µs"),
        ("credit", "one credit (a read + a transaction of 4), one client", "µs"),
        ("reads/s", f"reads per second, {CLIENTS} clients", "/s"),
        ("credits/s", f"credits per second, {CLIENTS} clients", "/s"),
    ]:
        floor = median("direct", key)
        figures = [median(route, key) for route in ROUTES]
        ratio = figures[2] / floor
        rows.append(
            [label, *(f"{f:,.0f} {unit}" for f in figures), f"{ratio:.2f}x"],
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small numbers, a few seconds")
    args = parser.parse_args()
    if not PgBouncer.available():
        raise SystemExit("pgbouncer is not installed (Debian's package)")
    with tempfile.TemporaryDirectory(prefix="stars-bench-pooler-") as workdir:
        rows = asyncio.run(run(QUICK if args.quick else FULL, Path(workdir)))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, PostgreSQL and PgBouncer on 127.0.0.1, "
        f"{POOL} connections{' (quick run: figures are not meaningful)' if args.quick else ''}"
    )
    print(table(["measure", *ROUTES, "PgBouncer/direct"], rows))


if __name__ == "__main__":
    main()
