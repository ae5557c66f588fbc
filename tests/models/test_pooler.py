"""`?pgbouncer=true` on a PostgreSQL URL, and `DATABASE_DIRECT_URL` beside it.

What they do to the database is tested through a real PgBouncer wherever a test is
marked `through_pgbouncer`; this is how the settings read them."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from pydantic import ValidationError
from tortoise import Tortoise
from tortoise.transactions import in_transaction

from models.infra.db import tortoise_config
from models.infra.pooler import is_pooled, without_flag
from models.infra.settings import describe_error
from tests.helpers import make_settings
from tests.pgbouncer import SERVER_POOL

POOLED = "postgres://stars:hunter2@db.internal:6432/stars?pgbouncer=true&maxsize=4"
DIRECT = "postgres://stars:hunter2@db.internal:5432/stars"


def credentials(db_url: str) -> dict[str, object]:
    connection = tortoise_config(db_url)["connections"]["default"]
    return dict(connection["credentials"])


def test_a_pooled_url_uses_no_named_statements_and_asyncpg_never_sees_the_flag() -> None:
    pooled = credentials(POOLED)
    assert pooled["statement_cache_size"] == 0
    assert "pgbouncer" not in pooled
    assert (pooled["port"], pooled["maxsize"], pooled["minsize"]) == (6432, "4", "10")
    assert "statement_cache_size" not in credentials(DIRECT)
    assert "statement_cache_size" not in credentials(DIRECT + "?pgbouncer=false")


@pytest.mark.parametrize("value", ["true", "True", "1", "yes"])
def test_the_flag_reads_as_the_ecosystem_writes_it(value: str) -> None:
    assert is_pooled(f"{DIRECT}?pgbouncer={value}")
    assert without_flag(f"{DIRECT}?sslmode=require&pgbouncer={value}") == (
        f"{DIRECT}?sslmode=require"
    )


def test_migrations_run_on_the_direct_url_when_there_is_one() -> None:
    assert make_settings(database_url=POOLED).migration_url == POOLED
    both = make_settings(database_url=POOLED, database_direct_url=DIRECT)
    assert both.migration_url == DIRECT
    assert both.database_url == POOLED


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"database_url": DIRECT + "?pgbouncer=maybe"},
            "DATABASE_URL has pgbouncer='maybe'; use pgbouncer=true or leave it out",
        ),
        (
            {"database_url": "sqlite://data/x.sqlite3?pgbouncer=true"},
            "DATABASE_URL is SQLite: pgbouncer=true only applies to PostgreSQL",
        ),
        (
            {"database_url": POOLED, "database_direct_url": POOLED},
            "DATABASE_DIRECT_URL must be a direct connection, without pgbouncer=true",
        ),
        (
            {"database_url": POOLED, "database_direct_url": "mysql://stars:hunter2@db/stars"},
            "DATABASE_DIRECT_URL has unsupported kind 'mysql'",
        ),
        (
            {"database_url": "sqlite://data/x.sqlite3", "database_direct_url": DIRECT},
            "DATABASE_DIRECT_URL is set but DATABASE_URL is SQLite",
        ),
    ],
)
def test_a_pooler_setting_that_cannot_work_is_refused_without_quoting_the_url(
    values: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        make_settings(**values)
    line = describe_error(refused.value)
    assert line.startswith(f"configuration error: {message}")
    assert "hunter2" not in line


@pytest.mark.parametrize("db", ["pgbouncer"], indirect=True)
async def test_a_type_asyncpg_looks_up_leaves_no_setting_on_any_server_connection(
    db: str,
) -> None:
    """asyncpg looks up types it has no codec for (here uuid[]) in the catalog, and by
    default turns JIT off for that with a session SET and back after: statements a
    pooler may send to different server connections, which keep the setting."""
    conn = Tortoise.get_connection("default")
    await conn.execute_query("SELECT $1::uuid[] AS ids", [[uuid.uuid4()]])
    arrived = asyncio.Barrier(SERVER_POOL)

    async def jit_source() -> str:
        async with in_transaction() as tx:  # all at once: each on its own server connection
            _, rows = await tx.execute_query("SELECT source FROM pg_settings WHERE name = 'jit'")
            await arrived.wait()
            return str(rows[0]["source"])

    sources = await asyncio.gather(*(jit_source() for _ in range(SERVER_POOL)))
    assert "session" not in sources, sources
