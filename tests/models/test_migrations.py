"""The committed migrations build the schema the models describe, on both databases."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from aerich import Command
from tortoise import Tortoise

from models.events.outbox import switch_events
from models.infra.db import (
    MIGRATIONS_DIR,
    apply_migrations,
    close_database,
    dialect,
    open_database,
    tortoise_config,
)
from models.infra.sql import execute
from models.ledger.credits import CreditStatus, credit_charge
from models.ledger.debits import debit
from models.ledger.refunds import record_refund
from models.queries.accounts import get_balance
from models.queries.charges import find_topup
from models.queries.invariants import check_ledger
from models.refusals import Refusal, Refused
from models.tables import Debit, Event, JobState, LedgerEntry, Notice, TopUpOrder, User
from models.values import Charge, utcnow
from tests.databases import NO_PG_REASON, PG_URL, create_pg_database, drop_pg_database
from tests.helpers import cid
from tests.pgbouncer import PgBouncer
from tests.processes import ROOT, child_env

BACKENDS = pytest.mark.parametrize("empty_db_url", ["sqlite", "postgres"], indirect=True)
# Migrating through a transaction-mode pooler, with no direct URL to take a session on.
WITH_PGBOUNCER = pytest.mark.parametrize(
    "empty_db_url", ["sqlite", "postgres", "pgbouncer"], indirect=True
)


def committed_migrations(db_url: str) -> list[str]:
    return sorted(p.name for p in (MIGRATIONS_DIR / dialect(db_url) / "models").glob("*_*.py"))


async def table_columns(table: str) -> set[str]:
    conn = Tortoise.get_connection("default")
    if conn.capabilities.dialect == "sqlite":
        _, rows = await conn.execute_query(f'PRAGMA table_info("{table}")')
        return {row["name"] for row in rows}
    _, rows = await conn.execute_query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1", [table]
    )
    return {row["column_name"] for row in rows}


@WITH_PGBOUNCER
async def test_migrations_build_the_models_schema_once(empty_db_url: str) -> None:
    first = await apply_migrations(empty_db_url)
    assert first == committed_migrations(empty_db_url)
    assert first[0].startswith("0_")
    assert first[0].endswith("_init.py")
    assert await apply_migrations(empty_db_url) == []
    await open_database(empty_db_url)
    try:
        for model in (User, TopUpOrder, LedgerEntry, Notice, JobState, Debit, Event):
            expected = {model._meta.fields_db_projection.get(n, n) for n in model._meta.db_fields}
            assert await table_columns(model._meta.db_table) == expected, model.__name__
        charge = Charge("ch-migrated", 1, 50, "x")
        results = await asyncio.gather(*(credit_charge(charge) for _ in range(5)))
        assert sorted(r.status for r in results).count(CreditStatus.CREDITED) == 1
    finally:
        await close_database()


async def migrate_in_processes(db_url: str, count: int) -> list[int]:
    """`count` processes applying the migrations at once; how many each applied."""
    script = (
        "import asyncio, json; from models.infra.db import apply_migrations; "
        f"print(json.dumps(asyncio.run(apply_migrations({db_url!r}))))"
    )
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            cwd=str(ROOT),
            env=child_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(count)
    ]
    outputs = [await asyncio.wait_for(p.communicate(), 60) for p in processes]
    assert [p.returncode for p in processes] == [0] * count, [
        o[1].decode()[-500:] for o in outputs
    ]
    return sorted(len(json.loads(out.decode().strip().splitlines()[-1])) for out, _ in outputs)


@WITH_PGBOUNCER
async def test_processes_starting_together_migrate_once(empty_db_url: str) -> None:
    applied = await migrate_in_processes(empty_db_url, 3)
    assert applied == [0, 0, len(committed_migrations(empty_db_url))]


@pytest.mark.skipif(not PG_URL, reason=NO_PG_REASON)
@pytest.mark.skipif(not PgBouncer.available(), reason="pgbouncer is not installed")
async def test_processes_waiting_to_migrate_hold_no_connection_of_a_small_pooler(
    tmp_path: Path,
) -> None:
    """Two server connections: the lock's transaction and the migrating one. Waiting
    for the lock inside a transaction would take the second and wait forever."""
    bouncer = PgBouncer(PG_URL, tmp_path / "pgbouncer", pool_size=2)
    bouncer.start()
    name = await create_pg_database()
    try:
        applied = await migrate_in_processes(bouncer.url(name), 3)
        assert applied == [0, 0, len(committed_migrations(bouncer.url(name)))]
    finally:
        await drop_pg_database(name)
        bouncer.stop()


@pytest.mark.parametrize("empty_db_url", ["postgres", "pgbouncer"], indirect=True)
async def test_a_limit_on_idle_transactions_does_not_end_the_migration_lock_early(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock's transaction sits idle while the migrations run; managed databases
    often end idle transactions after a while, and migrations can take longer."""
    admin = await asyncpg.connect(PG_URL.replace("postgres://", "postgresql://", 1))
    try:
        database = urlsplit(empty_db_url).path.lstrip("/")
        await admin.execute(
            f'ALTER DATABASE "{database}" SET idle_in_transaction_session_timeout = 300'
        )
    finally:
        await admin.close()
    upgrade = Command.upgrade

    async def slow_upgrade(self: Command, *args: Any, **kwargs: Any) -> list[str]:
        await asyncio.sleep(0.8)  # a migration that takes its time
        return await upgrade(self, *args, **kwargs)

    monkeypatch.setattr(Command, "upgrade", slow_upgrade)
    assert await apply_migrations(empty_db_url) == committed_migrations(empty_db_url)


async def old_post(user_id: int, amount: int, kind: str, charge_id: str | None = None) -> None:
    """A ledger row and its balance move as the code before `stars_balance_after` wrote them."""
    conn = Tortoise.get_connection("default")
    now = utcnow()
    await execute(
        conn,
        "INSERT INTO users (id, stars_balance, created_at, updated_at) VALUES ($1, 0, $2, $3) "
        "ON CONFLICT (id) DO NOTHING",
        user_id,
        now,
        now,
    )
    await execute(
        conn,
        "INSERT INTO ledger_entries (user_id, amount, kind, telegram_payment_charge_id, "
        "created_at) VALUES ($1, $2, $3, $4, $5)",
        user_id,
        amount,
        kind,
        charge_id,
        now,
    )
    await execute(
        conn,
        "UPDATE users SET stars_balance = stars_balance + $1 WHERE id = $2",
        amount,
        user_id,
    )


@contextlib.asynccontextmanager
async def at_migration(
    db_url: str, count: int, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[None]:
    """The database as the first `count` migrations of its dialect left it, open for
    writing rows the way the code of that time did; the rest apply afterwards."""
    copy = folder / dialect(db_url) / "models"
    copy.mkdir(parents=True)
    for name in committed_migrations(db_url)[:count]:
        shutil.copy(MIGRATIONS_DIR / dialect(db_url) / "models" / name, copy)
    with monkeypatch.context() as patched:
        patched.setattr("models.infra.db.MIGRATIONS_DIR", folder)
        await apply_migrations(db_url)
    await open_database(db_url)
    try:
        yield
    finally:
        await close_database()


@BACKENDS
async def test_the_text_columns_migration_keeps_rows_and_takes_real_charge_ids(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before_text = 2 if dialect(empty_db_url) == "postgres" else 1
    old_charge = "stx" + "o" * 125  # as long as the old columns allowed
    async with at_migration(empty_db_url, before_text, tmp_path, monkeypatch):
        await old_post(7, 40, "topup", old_charge)

    applied = await apply_migrations(empty_db_url)
    assert applied == committed_migrations(empty_db_url)[before_text:]
    await open_database(empty_db_url)
    try:
        kept = await find_topup(old_charge)
        assert kept is not None
        assert kept.amount == 40
        long_charge = cid("after-migration")
        assert (await credit_charge(Charge(long_charge, 7, 60, "x"))).balance == 100
        assert (await record_refund(long_charge)).balance == 40
    finally:
        await close_database()


@BACKENDS
async def test_the_balance_after_migration_fills_each_users_running_sum(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before_wallet = 4 if dialect(empty_db_url) == "postgres" else 2
    async with at_migration(empty_db_url, before_wallet, tmp_path, monkeypatch):
        await old_post(7, 40, "topup", cid("m1"))
        await old_post(8, 5, "dev_credit")
        await old_post(7, 60, "topup", cid("m2"))
        await old_post(7, -40, "refund", cid("m1"))
        await old_post(8, -9, "adjustment")

    applied = await apply_migrations(empty_db_url)
    assert applied == committed_migrations(empty_db_url)[before_wallet:]
    await open_database(empty_db_url)
    try:
        rows = await LedgerEntry.all().order_by("id").values_list("user_id", "stars_balance_after")
        assert rows == [(7, 40), (8, 5), (7, 100), (7, 60), (8, -4)]
        report = await check_ledger()
        assert report.ok, report.render()
        spent = await debit(7, 60, "after the migration", "migrated")
        assert spent.debit.stars_balance == 0
        assert (await check_ledger()).ok
    finally:
        await close_database()


@BACKENDS
async def test_the_committed_migrations_match_the_models(
    empty_db_url: str, tmp_path: Path
) -> None:
    """aerich, asked for a migration after the committed ones, finds nothing to do: the
    last MODELS_STATE describes the models as they are."""
    from aerich import Command

    await apply_migrations(empty_db_url)
    location = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR / dialect(empty_db_url), location / dialect(empty_db_url))

    async def generate() -> str:
        command = Command(
            tortoise_config=tortoise_config(empty_db_url, pool_size=2),
            app="models",
            location=str(location / dialect(empty_db_url)),
        )
        async with command:
            return str(await command.migrate(name="drift"))

    # aerich keeps its ORM state in the context: a task of its own, as at start-up.
    assert await asyncio.create_task(generate(), context=contextvars.Context()) == ""


@BACKENDS
async def test_the_events_migration_starts_with_no_events_for_older_rows(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before_events = 5 if dialect(empty_db_url) == "postgres" else 3
    async with at_migration(empty_db_url, before_events, tmp_path, monkeypatch):
        # A credit as the code before events wrote it.
        conn, now = Tortoise.get_connection("default"), utcnow()
        await execute(
            conn,
            "INSERT INTO users (id, stars_balance, created_at, updated_at) VALUES (7, 40, $1, $1)",
            now,
        )
        await execute(
            conn,
            "INSERT INTO ledger_entries (user_id, amount, kind, telegram_payment_charge_id, "
            "stars_balance_after, created_at) VALUES (7, 40, 'topup', $1, 40, $2)",
            cid("before"),
            now,
        )

    applied = await apply_migrations(empty_db_url)
    assert applied == committed_migrations(empty_db_url)[before_events:]
    await open_database(empty_db_url)
    try:
        assert await Event.all().count() == 0
        await switch_events(True)
        await record_refund(cid("before"))
        [event] = await Event.all()
        entry = await LedgerEntry.get(id=event.entry_id)
        assert (entry.kind, entry.amount, event.type) == ("refund", -40, "topup.refunded")
        assert (await check_ledger()).ok
    finally:
        await close_database()


@BACKENDS
async def test_the_idempotency_keys_migration_keeps_every_debits_key_holding_it(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A debit made before the keys had a table of their own is still its key's answer
    afterwards (the fingerprint the migration writes is the one the code computes, for a
    reason with quotes, a backslash and Cyrillic too): a retry is a replay, not a second
    debit."""
    before_keys = 8 if dialect(empty_db_url) == "postgres" else 6
    reason = 'подарок "мишка" \\ 🧸'
    debit_id = uuid.uuid4()
    async with at_migration(empty_db_url, before_keys, tmp_path, monkeypatch):
        conn = Tortoise.get_connection("default")
        now = utcnow()
        await execute(
            conn,
            "INSERT INTO users (id, stars_balance, created_at, updated_at) VALUES (7, 70, $1, $1)",
            now,
        )
        await execute(
            conn,
            "INSERT INTO debits (id, user_id, amount, reason, idempotency_key, created_at) "
            "VALUES ($1, 7, 30, $2, 'before-the-table', $3)",
            debit_id,
            reason,
            now,
        )
        await execute(
            conn,
            "INSERT INTO ledger_entries (user_id, amount, kind, debit_id, stars_balance_after, "
            "created_at) VALUES (7, -30, 'debit', $1, 70, $2)",
            debit_id,
            now,
        )

    await apply_migrations(empty_db_url)
    await open_database(empty_db_url)
    try:
        again = await debit(7, 30, reason, "before-the-table")
        assert (again.replayed, again.debit.id, again.debit.stars_balance) == (True, debit_id, 70)
        with pytest.raises(Refused) as refused:
            await debit(7, 31, reason, "before-the-table")
        assert refused.value.code is Refusal.IDEMPOTENCY_KEY_REUSED
        assert await get_balance(7) == 70
    finally:
        await close_database()
