"""Database set-up shared by both processes: Tortoise config, migrations, open/close.

aerich writes raw SQL in the dialect it ran on, so there is one migration set per
dialect (`migrations/postgres`, `migrations/sqlite`), picked from the URL. Both
processes apply pending migrations at start-up; a PostgreSQL advisory lock or a file
lock next to the SQLite file lets them start at the same moment. A PostgreSQL URL
marked `?pgbouncer=true` leads through a transaction-mode pooler (`models.infra.pooler`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url

from models.infra.pooler import POOLED_OPTIONS, is_pooled, without_flag

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
MODEL_MODULES = ["models.tables", "aerich.models"]
# Any constant works; it only has to be the same in every process of this project.
MIGRATION_LOCK_KEY = 0x57A25_70B0
MIGRATION_LOCK_POLL = 0.1  # seconds between tries while another process migrates


def dialect(db_url: str) -> str:
    return "sqlite" if db_url.startswith("sqlite") else "postgres"


def _connection(db_url: str, maxsize: int) -> str | dict[str, Any]:
    """SQLite as given; PostgreSQL on `models.infra.postgres_engine`, with a pool of `maxsize`
    connections unless the URL sets its own (minsize/maxsize parameters), and without
    named prepared statements when the URL leads through a pooler."""
    if dialect(db_url) != "postgres":
        return db_url
    parts = urlsplit(without_flag(db_url))
    query = dict(parse_qsl(parts.query))
    # Opened up front: a sales spike should not pay for connection set-up.
    query.setdefault("minsize", str(maxsize))
    query.setdefault("maxsize", str(maxsize))
    config = expand_db_url(urlunsplit(parts._replace(query=urlencode(query))))
    if is_pooled(db_url):
        config["credentials"].update(POOLED_OPTIONS)
    return {**config, "engine": "models.infra.postgres_engine"}


def tortoise_config(db_url: str, *, pool_size: int = 10) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(db_url, pool_size)},
        "apps": {"models": {"models": MODEL_MODULES, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def _sqlite_path(db_url: str) -> str | None:
    path = db_url.removeprefix("sqlite://").split("?", 1)[0]
    return None if path in {"", ":memory:"} else path


def _asyncpg_dsn(db_url: str) -> str:
    parts = urlsplit(db_url)
    return urlunsplit(parts._replace(scheme="postgresql", query=""))


@contextlib.asynccontextmanager
async def _migration_lock(db_url: str) -> AsyncIterator[None]:
    """One migrating process at a time. On PostgreSQL a transaction-level advisory lock,
    held by a transaction left open on a connection of its own while the migrations run:
    a transaction-mode pooler keeps an open transaction on one server connection (a
    session-level lock would land on whatever server connection each statement got).
    It is tried rather than waited for, so that processes waiting for it hold no server
    connection of a pooler that the one migrating needs. The lock ends with the
    transaction: at the end, or when this process dies and its connection closes."""
    if dialect(db_url) == "postgres":
        # No statement cache: one statement, on a connection that may reach a pooler.
        conn = await asyncpg.connect(_asyncpg_dsn(db_url), timeout=10, statement_cache_size=0)
        try:
            while True:
                transaction = conn.transaction()
                await transaction.start()
                if await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", MIGRATION_LOCK_KEY):
                    # It sits idle while the migrations run on other connections; a
                    # server-wide limit on idle transactions must not end it early.
                    await conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
                    break
                await transaction.rollback()
                await asyncio.sleep(MIGRATION_LOCK_POLL)
            try:
                yield
            finally:
                await transaction.rollback()  # releases the lock; it changed nothing
        finally:
            await conn.close()
        return
    path = _sqlite_path(db_url)
    if path is None:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.migrate-lock", "w") as handle:  # noqa: ASYNC230 (a tiny lock file)
        await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def apply_migrations(db_url: str) -> list[str]:
    """Apply pending migrations for the URL's dialect; returns the files applied.

    aerich initialises and closes its own ORM state; it runs in a task with an empty
    context so that state never mixes with the caller's (a second run in the same
    context finds the closed one and fails).
    """
    task = asyncio.create_task(_apply_migrations(db_url), context=contextvars.Context())
    return await task


async def _apply_migrations(db_url: str) -> list[str]:
    from aerich import Command  # imported late: it patches asyncio policy on import

    location = MIGRATIONS_DIR / dialect(db_url)
    # aerich finds nothing to apply in a folder that is not there and says nothing: a
    # package laid out wrong must stop start-up, not serve an empty database.
    if not (location / "models").is_dir():
        raise RuntimeError(f"no migrations at {location}")
    async with _migration_lock(db_url):
        command = Command(
            tortoise_config=tortoise_config(db_url, pool_size=2),
            app="models",
            location=str(location),
        )
        async with command:  # entering runs aerich's init
            return await command.upgrade(run_in_transaction=True)


async def open_database(
    db_url: str, *, pool_size: int = 10, global_fallback: bool = False
) -> None:
    await Tortoise.init(
        config=tortoise_config(db_url, pool_size=pool_size),
        _enable_global_fallback=global_fallback,
    )


async def close_database() -> None:
    await Tortoise.close_connections()


async def ping() -> None:
    """Raise if the database does not answer a trivial query."""
    await Tortoise.get_connection("default").execute_query("SELECT 1")
