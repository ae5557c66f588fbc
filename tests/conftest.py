"""Shared fixtures: an empty database per test on SQLite and, when given, PostgreSQL
(tests.databases: one migrated database per test process, emptied between tests), and
a Bot API emulator.

A third backend, `pgbouncer`, is that PostgreSQL reached through a real PgBouncer in
transaction mode (`tests/pgbouncer.py`), as production often reaches it. Tests opt in
with `@through_pgbouncer` (tests.databases); every PostgreSQL test running there too
would double the suite's time for paths that share all their database code.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext, tortoise_test_context

from models.infra.db import MODEL_MODULES, tortoise_config
from tests.databases import (
    BACKENDS,
    NO_PG_REASON,
    PG_URL,
    create_pg_database,
    drop_pg_database,
    drop_worker_database,
    pg_database_url,
    worker_database,
)
from tests.emulator import BotApiEmulator, running_emulator
from tests.fork_server import ForkServer
from tests.pgbouncer import PgBouncer
from tests.processes import kill_leftovers

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """A random UUID4 parameter (an id no row has) is named `uuid4`, not by its value:
    pytest-xdist's workers each collect the suite and must find the same test ids."""
    if isinstance(val, str) and UUID4.fullmatch(val):
        return "uuid4"
    return None


# The per-test timeout (pytest-timeout) of the second tier; the default tier's is
# pyproject's `timeout`. A case may still set its own with @pytest.mark.timeout.
SLOW_TIMEOUT = 600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))


def pytest_sessionfinish() -> None:
    asyncio.run(drop_worker_database())


@pytest.fixture(autouse=True)
def _no_child_left_running() -> Iterator[None]:
    """A test that failed before stopping its `run_bot.py` leaves nothing running."""
    yield
    kill_leftovers()


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
async def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
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
    url = database_url(request, request.param, await worker_database())
    async with TortoiseContext() as context:
        await context.init(config=tortoise_config(url, pool_size=5))
        yield request.param
        await Tortoise.close_connections()


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    async with running_emulator() as running:
        yield running


@pytest.fixture(scope="session")
def run_bot_forked() -> Iterator[ForkServer]:
    """`run_bot.py` commands as processes forked from one that imported them once
    (tests.fork_server): the operator-command tests run dozens."""
    server = ForkServer("run_bot.py")
    server.start()
    yield server
    server.stop()
