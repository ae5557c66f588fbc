"""`run_bot.py copy-database --to postgres://…`: move a stopped SQLite deployment into an
empty PostgreSQL database, row for row, and prove the copy with `check`.

Every table is copied with its ids as they are, so each user's ledger chain (ordered by
id), the charge-id and debit keys, orders, events with their states and the jobs'
cursors arrive unchanged; what only made sense for the processes that were running is
reset: no lease is held after a move. Each sequence is set past its table's largest id,
so the next ledger row follows the copied ones. The rows go in with COPY, a table at a
time, parents before children, in one transaction: a copy that fails leaves the target
empty. It refuses a target that holds any row, and a source whose worker still holds
its lease.

Nothing here loads a Bot API library.
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from models.infra.db import apply_migrations, close_database, dialect, open_database
from models.infra.sql import as_datetime
from models.queries.invariants import check_ledger
from models.values import utcnow

BATCH = 5_000
# aerich's own record of the migrations: the target's is written by migrating it.
SKIPPED = {"aerich"}
WORKER_LEASE = "worker"  # bot/leadership.py's LEASE, named here without loading aiogram


class CopyRefused(Exception):
    """Why nothing was copied, in the operator's words."""


def _dsn(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql", query=""))


def _converter(data_type: str) -> Callable[[Any], Any]:
    """SQLite's value (text for timestamps, UUIDs and JSON; 0/1 for booleans) as the
    PostgreSQL column's type wants it from COPY."""
    if data_type.startswith("timestamp"):
        return as_datetime
    if data_type == "uuid":
        return lambda value: value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    if data_type in {"json", "jsonb"}:
        return lambda value: value if isinstance(value, str) else json.dumps(value)
    if data_type == "boolean":
        return bool
    if data_type in {"bigint", "integer", "smallint"}:
        return int
    if data_type == "numeric":
        return lambda value: Decimal(str(value))
    if data_type == "date":
        return lambda value: value if isinstance(value, date) else date.fromisoformat(value)
    if data_type in {"double precision", "real"}:
        return float
    return str


def _parents_first(tables: list[str], edges: Sequence[tuple[str, str]]) -> list[str]:
    parents: dict[str, set[str]] = {table: set() for table in tables}
    for child, parent in edges:
        if child != parent and child in parents and parent in parents:
            parents[child].add(parent)
    ordered: list[str] = []
    seen: set[str] = set()

    def visit(table: str) -> None:
        if table in seen:  # placed, or on the way (a cycle: COPY would then refuse it)
            return
        seen.add(table)
        for parent in sorted(parents[table]):
            visit(parent)
        ordered.append(table)

    for table in sorted(tables):
        visit(table)
    return ordered


def _forget_sqlite_statements() -> None:
    """Tortoise caches the INSERTs it builds per connection name, not per dialect: this
    process switches from SQLite to PostgreSQL under the one name `default`."""
    EXECUTOR_CACHE.clear()


async def _source_rows(sql: str, *args: Any) -> list[dict[str, Any]]:
    rows = await Tortoise.get_connection("default").execute_query_dict(sql, list(args))
    return list(rows)


async def _refuse_a_running_source() -> None:
    rows = await _source_rows(
        "SELECT holder, lease_until FROM job_state WHERE name = ?", WORKER_LEASE
    )
    if rows and rows[0]["holder"] and rows[0]["lease_until"]:
        until = as_datetime(rows[0]["lease_until"])
        if until > utcnow():
            raise CopyRefused(
                f"a worker ({rows[0]['holder']}) holds its lease until {until:%H:%M:%S} UTC: "
                "stop every run_bot.py and run_api.py first"
            )


async def _target_tables(conn: asyncpg.Connection) -> dict[str, dict[str, str]]:
    """Each table's columns and their types, in column order."""
    rows = await conn.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
    )
    tables: dict[str, dict[str, str]] = {}
    for row in rows:
        if row["table_name"] not in SKIPPED:
            tables.setdefault(row["table_name"], {})[row["column_name"]] = row["data_type"]
    return tables


async def copy_database(target_url: str, *, say: Callable[[str], None] = print) -> None:
    """Copy the open SQLite database into the PostgreSQL one at `target_url`."""
    if Tortoise.get_connection("default").capabilities.dialect != "sqlite":
        raise CopyRefused("DATABASE_URL must be the SQLite database to copy from")
    if dialect(target_url) != "postgres":
        raise CopyRefused("--to must be a postgres://user:pass@host:port/db URL")
    await _refuse_a_running_source()
    say("migrating the target…")
    _forget_sqlite_statements()
    await apply_migrations(target_url)
    conn = await asyncpg.connect(_dsn(target_url), timeout=30)
    try:
        tables = await _target_tables(conn)
        full = [t for t in tables if await conn.fetchval(f'SELECT EXISTS (SELECT FROM "{t}")')]
        if full:
            raise CopyRefused(
                f"the target is not empty ({', '.join(sorted(full))} hold rows): copy only "
                "into a new, empty database"
            )
        source = {
            str(row["name"])
            for row in await _source_rows(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        } - SKIPPED
        if source != set(tables):
            raise CopyRefused(
                "the two schemas differ (tables only in the source: "
                f"{sorted(source - set(tables))}, only in the target: "
                f"{sorted(set(tables) - source)}): run the same version on both"
            )
        edges = [
            (str(row[0]).strip('"'), str(row[1]).strip('"'))
            for row in await conn.fetch(
                "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
                "WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
            )
        ]
        counts: dict[str, int] = {}
        async with conn.transaction():
            for table in _parents_first(list(tables), edges):
                counts[table] = await _copy_table(conn, table, tables[table], say)
            # Leases belonged to the processes that ran on the source; cursors stay.
            await conn.execute("UPDATE job_state SET holder = NULL, lease_until = NULL")
            await _set_sequences(conn, tables)
        for table, count in counts.items():
            copied = await conn.fetchval(f'SELECT COUNT(*) FROM "{table}"')
            if copied != count:  # pragma: no cover - COPY either writes all or fails
                raise RuntimeError(f"{table}: {count} rows read but {copied} in the target")
    finally:
        await conn.close()
    say(f"copied {sum(counts.values())} rows in {len(counts)} tables")


async def _copy_table(
    conn: asyncpg.Connection, table: str, columns: dict[str, str], say: Callable[[str], None]
) -> int:
    names = list(columns)
    convert = [_converter(columns[name]) for name in names]
    [total] = await _source_rows(f'SELECT COUNT(*) AS n FROM "{table}"')
    total_rows = int(total["n"])
    selected = ", ".join(f'"{name}"' for name in names)
    done, last = 0, -1
    while True:
        # rowid order: every table Tortoise makes has one, whatever its primary key.
        rows = await _source_rows(
            f'SELECT rowid AS "__rowid", {selected} FROM "{table}" '
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            last,
            BATCH,
        )
        if not rows:
            break
        last = int(rows[-1]["__rowid"])
        records = [
            tuple(
                None if row[name] is None else conv(row[name])
                for name, conv in zip(names, convert, strict=True)
            )
            for row in rows
        ]
        await conn.copy_records_to_table(table, records=records, columns=names)
        done += len(records)
        if total_rows > BATCH:
            say(f"  {table}: {done}/{total_rows} rows")
    say(f"{table}: {done} rows")
    return done


async def _set_sequences(conn: asyncpg.Connection, tables: dict[str, dict[str, str]]) -> None:
    """Each serial column's sequence just past the largest id copied (or at its start)."""
    for table, columns in tables.items():
        for column in columns:
            sequence = await conn.fetchval(
                "SELECT pg_get_serial_sequence($1, $2)", f'"{table}"', column
            )
            if sequence is None:
                continue
            largest = await conn.fetchval(f'SELECT MAX("{column}") FROM "{table}"')
            if largest is None:
                await conn.execute("SELECT setval($1, 1, false)", sequence)
            else:
                await conn.execute("SELECT setval($1, $2, true)", sequence, largest)


async def cmd_copy_database(args: argparse.Namespace) -> int:
    started = datetime.now()
    try:
        await copy_database(args.to)
    except CopyRefused as refused:
        print(f"refused: {refused}; nothing was copied")
        return 1
    # The proof: the invariants, on the copy.
    await close_database()
    _forget_sqlite_statements()
    await open_database(args.to, pool_size=2)
    report = await check_ledger()
    print(f"\ncheck on the target ({(datetime.now() - started).total_seconds():.1f} s so far):")
    print(report.render())
    if report.ok:
        print("\nnext: point DATABASE_URL at the target and start the processes")
    return 0 if report.ok else 1
