"""Test databases on PostgreSQL, and the URLs to reach them directly or through a proxy.

The `db` fixture's database is one per test process (one per pytest-xdist worker),
built by the committed migrations on first use and emptied before each later test
(`worker_database`): cloning a template and dropping it took 0.2 to 1 s a test, emptying
a few milliseconds. Tests that need a database of their own (empty, or watched by
processes that outlive a test's connections) create one and drop it.

PostgreSQL cases need `TEST_POSTGRES_URL` (for example
`postgres://postgres@127.0.0.1:5432/postgres`); `.ci/run` always sets it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from models.infra.db import apply_migrations

PG_URL = os.environ.get("TEST_POSTGRES_URL", "")
NO_PG_REASON = "TEST_POSTGRES_URL is not set: PostgreSQL cases need a server (CI sets one)"
BACKENDS = ["sqlite", "postgres"]
# The `db` (or `empty_db_url`) fixture of a test on every backend, PgBouncer included.
through_pgbouncer = pytest.mark.parametrize("db", [*BACKENDS, "pgbouncer"], indirect=True)


def _dsn(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql", path=f"/{database}", query=""))


def pg_database_url(name: str) -> str:
    parts = urlsplit(PG_URL)
    return urlunsplit(parts._replace(scheme="postgres", path=f"/{name}"))


def pg_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def with_port(url: str, port: int) -> str:
    """The same database reached through another port (a TcpProxy in front of it)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{auth}{host}:{port}"))


async def create_pg_database(template: str | None = None) -> str:
    """A new PostgreSQL database, empty or a copy of `template`; returns its name."""
    name = f"stars_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    conn = await asyncpg.connect(_dsn(PG_URL, "postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
        # A commit does not wait for its WAL to reach the disk: the same answers, but
        # no test stalls a second behind another suite's checkpoint on a shared disk.
        # Nothing here survives a crash of the server anyway.
        await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    finally:
        await conn.close()
    return name


async def drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(_dsn(PG_URL, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@dataclass
class _WorkerDatabase:
    name: str
    tables: list[str]  # children before parents, so plain DELETEs satisfy every foreign key
    sequences: list[str]
    schema: str  # SCHEMA_PRINT as migrated


# What a test may change besides rows (a renamed table, a trigger and its function):
# a database whose print differs is rebuilt instead of emptied.
SCHEMA_PRINT = """
SELECT md5(string_agg(item, ',' ORDER BY item)) FROM (
    SELECT 'r:' || c.relname || c.relkind::text || ':' || a.attname || ':' || a.atttypid::text
        || a.attnotnull::text AS item
    FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
        AND NOT a.attisdropped
    WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'f:' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
        || md5(p.prosrc)
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
    UNION ALL
    SELECT 't:' || t.tgname || ':' || t.tgrelid::regclass::text
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'k:' || conname || ':' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
) AS items
"""


_worker_database: _WorkerDatabase | None = None
# The migrations' own record: what `aerich` finds there says the schema is current.
KEPT_TABLES = {"aerich"}


async def worker_database() -> str:
    """This process's migrated PostgreSQL database, with no rows but the migrations'
    record: built by the committed migrations on first use (PostgreSQL's schema has more
    than the models: the `open_topup_order` functions), emptied on every later call.

    Emptying keeps the schema, the functions and the migrations' record, deletes every
    row and restarts the sequences, so a test sees what a freshly migrated database
    holds. DELETE, not TRUNCATE: on tables of a few rows it is about twenty times faster
    (TRUNCATE makes new files for each table and its indexes). A test that changed the
    schema (SCHEMA_PRINT) leaves a database that is dropped and built again."""
    global _worker_database
    if _worker_database is not None and not await _empty(_worker_database):
        await drop_pg_database(_worker_database.name)
        _worker_database = None
    if _worker_database is None:
        name = await create_pg_database()
        await apply_migrations(pg_database_url(name))
        _worker_database = await _inspect(name)
    return _worker_database.name


async def _inspect(name: str) -> _WorkerDatabase:
    conn = await asyncpg.connect(_dsn(PG_URL, name))
    try:
        tables = [
            str(row[0])
            for row in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
            if row[0] not in KEPT_TABLES
        ]
        edges = await conn.fetch(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
            " WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
        )
        sequences = [
            str(row[0])
            for row in await conn.fetch(
                "SELECT s.relname FROM pg_class s"
                " LEFT JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')"
                " LEFT JOIN pg_class t ON t.oid = d.refobjid"
                " WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace"
                " AND coalesce(t.relname, '') NOT IN (SELECT unnest($1::text[]))",
                sorted(KEPT_TABLES),
            )
        ]
        schema = str(await conn.fetchval(SCHEMA_PRINT))
        for table in tables:
            # Rows written by a migration would be lost by the first emptying.
            assert not await conn.fetchval(f'SELECT EXISTS (SELECT FROM "{table}")'), (
                f"a migration left rows in {table}; tests.databases must keep them"
            )
    finally:
        await conn.close()
    return _WorkerDatabase(name, _children_first(tables, edges), sequences, schema)


def _children_first(tables: list[str], edges: Sequence[Sequence[str]]) -> list[str]:
    parents: dict[str, set[str]] = {table: set() for table in tables}
    for child, parent in edges:
        child, parent = child.strip('"'), parent.strip('"')
        if child != parent and child in parents and parent in parents:
            parents[child].add(parent)
    ordered: list[str] = []

    def visit(table: str) -> None:  # parents land after every child that points at them
        if table in ordered:
            return
        for child in [t for t, ps in parents.items() if table in ps]:
            visit(child)
        ordered.append(table)

    for table in sorted(tables):
        visit(table)
    return ordered


async def _empty(database: _WorkerDatabase) -> bool:
    """Delete every row; False (nothing deleted) when the schema is not as migrated."""
    conn = await asyncpg.connect(_dsn(PG_URL, database.name))
    try:
        if await conn.fetchval(SCHEMA_PRINT) != database.schema:
            return False
        for attempt in range(2):
            try:
                async with conn.transaction():
                    # A session a test left open may hold locks; it must not hang the run.
                    await conn.execute("SET LOCAL lock_timeout = '3s'")
                    for table in database.tables:
                        await conn.execute(f'DELETE FROM "{table}"')
                    for sequence in database.sequences:
                        await conn.execute(f'ALTER SEQUENCE "{sequence}" RESTART')
                return True
            except asyncpg.LockNotAvailableError:
                if attempt:
                    raise
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = $1 AND pid <> pg_backend_pid()",
                    database.name,
                )
                await asyncio.sleep(0.1)
        raise AssertionError("unreachable: the second attempt returns or raises")
    finally:
        await conn.close()


async def drop_worker_database() -> None:
    if _worker_database is not None:
        await drop_pg_database(_worker_database.name)


async def lease_until(direct_url: str) -> datetime:
    """When the workers' polling lease runs out, by the database's clock."""
    conn = await asyncpg.connect(direct_url.replace("postgres://", "postgresql://", 1))
    try:
        value = await conn.fetchval("SELECT lease_until FROM job_state WHERE name = 'worker'")
    finally:
        await conn.close()
    assert isinstance(value, datetime)
    return value
