"""The committed migrations build the schema the models describe, on both databases."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from tortoise import Tortoise

from models.db import MIGRATIONS_DIR, apply_migrations, close_database, dialect, open_database
from models.money import Charge, CreditStatus, credit_charge
from models.tables import JobState, LedgerEntry, Notice, TopUpOrder, User
from tests.processes import ROOT, child_env

BACKENDS = pytest.mark.parametrize("empty_db_url", ["sqlite", "postgres"], indirect=True)


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


@BACKENDS
async def test_migrations_build_the_models_schema_once(empty_db_url: str) -> None:
    first = await apply_migrations(empty_db_url)
    assert first == committed_migrations(empty_db_url)
    assert first[0].startswith("0_")
    assert first[0].endswith("_init.py")
    assert await apply_migrations(empty_db_url) == []
    await open_database(empty_db_url)
    try:
        for model in (User, TopUpOrder, LedgerEntry, Notice, JobState):
            expected = {model._meta.fields_db_projection.get(n, n) for n in model._meta.db_fields}
            assert await table_columns(model._meta.db_table) == expected, model.__name__
        charge = Charge("ch-migrated", 1, 50, "x")
        results = await asyncio.gather(*(credit_charge(charge) for _ in range(5)))
        assert sorted(r.status for r in results).count(CreditStatus.CREDITED) == 1
    finally:
        await close_database()


@BACKENDS
async def test_processes_starting_together_migrate_once(empty_db_url: str) -> None:
    script = (
        "import asyncio, json; from models.db import apply_migrations; "
        f"print(json.dumps(asyncio.run(apply_migrations({empty_db_url!r}))))"
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
        for _ in range(3)
    ]
    outputs = [await asyncio.wait_for(p.communicate(), 60) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], [o[1].decode()[-500:] for o in outputs]
    applied = sorted(len(json.loads(out.decode().strip().splitlines()[-1])) for out, _ in outputs)
    assert applied == [0, 0, len(committed_migrations(empty_db_url))]
