"""Test databases on PostgreSQL: created per test (empty, or a copy of one migrated
template) and dropped after it, and the URLs to reach them directly or through a proxy.

PostgreSQL cases need `TEST_POSTGRES_URL` (for example
`postgres://postgres@127.0.0.1:5432/postgres`); `.ci/run` always sets it.
"""

from __future__ import annotations

import os
import uuid
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
    finally:
        await conn.close()
    return name


async def drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(_dsn(PG_URL, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


_migrated_template: str | None = None


async def create_migrated_pg_database() -> str:
    """A new PostgreSQL database holding the committed migrations (PostgreSQL's schema
    has more than the models: the `open_topup_order` function). Copied from a template
    migrated on first use, which `drop_migrated_template` drops when the run ends."""
    global _migrated_template
    if _migrated_template is None:
        template = await create_pg_database()
        await apply_migrations(pg_database_url(template))
        _migrated_template = template
    return await create_pg_database(template=_migrated_template)


async def drop_migrated_template() -> None:
    if _migrated_template is not None:
        await drop_pg_database(_migrated_template)


async def lease_until(direct_url: str) -> datetime:
    """When the workers' polling lease runs out, by the database's clock."""
    conn = await asyncpg.connect(direct_url.replace("postgres://", "postgresql://", 1))
    try:
        value = await conn.fetchval("SELECT lease_until FROM job_state WHERE name = 'worker'")
    finally:
        await conn.close()
    assert isinstance(value, datetime)
    return value
