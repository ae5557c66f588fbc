"""Shared fixtures: a fresh database per test on SQLite and, when given, PostgreSQL
(tests.databases), and a Bot API emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext, tortoise_test_context

from models.infra.db import MODEL_MODULES, tortoise_config
from tests.databases import (
    NO_PG_REASON,
    PG_URL,
    create_migrated_pg_database,
    create_pg_database,
    drop_migrated_template,
    drop_pg_database,
    pg_database_url,
)
from tests.emulator import BotApiEmulator, running_emulator

BACKENDS = ["sqlite", "postgres"]


def pytest_sessionfinish() -> None:
    asyncio.run(drop_migrated_template())


@pytest.fixture(autouse=True)
def _fresh_query_cache() -> None:
    """Tortoise caches INSERT SQL per connection *name*, not per dialect, so a process
    that switches between SQLite and PostgreSQL (only tests do) must forget it."""
    EXECUTOR_CACHE.clear()


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
        yield pg_database_url(name)
    finally:
        await drop_pg_database(name)


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """An initialised ORM context with the schema, on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        async with tortoise_test_context(MODEL_MODULES, db_url="sqlite://:memory:"):
            yield "sqlite"
        return
    if not PG_URL:
        pytest.skip(NO_PG_REASON)
    name = await create_migrated_pg_database()
    try:
        async with TortoiseContext() as context:
            await context.init(config=tortoise_config(pg_database_url(name), pool_size=5))
            yield "postgres"
            await Tortoise.close_connections()
    finally:
        await drop_pg_database(name)


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    async with running_emulator() as running:
        yield running
