"""Shared fixtures: a fresh database per test on SQLite and, when given, PostgreSQL.

PostgreSQL tests need `TEST_POSTGRES_URL` (for example
`postgres://postgres@127.0.0.1:5432/postgres`); `.ci/run` always sets it. Each test
gets its own database, created and dropped around it.

A third backend, `pgbouncer`, is that PostgreSQL reached through a real PgBouncer in
transaction mode (`tests/pgbouncer.py`), as production often reaches it. Tests opt in
with `@through_pgbouncer`; every PostgreSQL test running there too would double the
suite's time for paths that share all their database code.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext, tortoise_test_context

from models.infra.db import MODEL_MODULES, apply_migrations, tortoise_config
from tests.pgbouncer import PgBouncer

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
    migrated on first use, which is dropped when the run ends."""
    global _migrated_template
    if _migrated_template is None:
        template = await create_pg_database()
        await apply_migrations(pg_database_url(template))
        _migrated_template = template
    return await create_pg_database(template=_migrated_template)


def pytest_sessionfinish() -> None:
    if _migrated_template is not None:
        asyncio.run(drop_pg_database(_migrated_template))


@pytest.fixture(autouse=True)
def _fresh_query_cache() -> None:
    """Tortoise caches INSERT SQL per connection *name*, not per dialect, so a process
    that switches between SQLite and PostgreSQL (only tests do) must forget it."""
    EXECUTOR_CACHE.clear()


@pytest.fixture(scope="session")
def pgbouncer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgBouncer]:
    """One PgBouncer in transaction mode for the whole run, started on first use."""
    if not PG_URL:
        pytest.skip(NO_PG_REASON)
    if not PgBouncer.available():
        pytest.skip("pgbouncer is not installed (Debian's package; .ci/run installs it)")
    bouncer = PgBouncer(PG_URL, tmp_path_factory.mktemp("pgbouncer"))
    bouncer.start()
    yield bouncer
    bouncer.stop()


def database_url(request: pytest.FixtureRequest, backend: str, name: str) -> str:
    """The URL of PostgreSQL database `name`, directly or through the run's PgBouncer."""
    if backend == "pgbouncer":
        bouncer: PgBouncer = request.getfixturevalue("pgbouncer")
        return bouncer.url(name)
    return pg_database_url(name)


@pytest.fixture
async def empty_db_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    """The URL of an empty database of the parametrised backend (no schema)."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield f"sqlite://{tmp_path}/stars.sqlite3"
        return
    if not PG_URL:
        pytest.skip(NO_PG_REASON)
    name = await create_pg_database()
    try:
        yield database_url(request, backend, name)
    finally:
        await drop_pg_database(name)


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """An initialised ORM context with the schema, on SQLite and PostgreSQL (directly, or
    through PgBouncer where a test asks for it); gives the backend's name."""
    if request.param == "sqlite":
        async with tortoise_test_context(MODEL_MODULES, db_url="sqlite://:memory:"):
            yield "sqlite"
        return
    if not PG_URL:
        pytest.skip(NO_PG_REASON)
    name = await create_migrated_pg_database()
    try:
        url = database_url(request, request.param, name)
        async with TortoiseContext() as context:
            await context.init(config=tortoise_config(url, pool_size=5))
            yield request.param
            await Tortoise.close_connections()
    finally:
        await drop_pg_database(name)
