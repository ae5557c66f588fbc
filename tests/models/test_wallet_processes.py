"""Debits from several processes at once on one SQLite file: the write lock taken by
each debit's first statement keeps the balance from going below zero across processes
(in one process Tortoise already runs SQLite transactions one at a time)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from models.infra.db import apply_migrations, close_database, open_database
from models.kinds import EntryKind
from models.ledger.entries import apply_entry
from models.queries.accounts import get_balance
from models.queries.invariants import check_ledger
from models.tables import Debit
from tests.processes import ROOT, child_env

SCRIPT = """
import asyncio, json, sys
from models.infra.db import open_database, close_database
from models.ledger.debits import debit
from models.refusals import Refusal, Refused

async def main(url, name):
    await open_database(url)
    outcomes = []
    async def one(i):
        try:
            await debit(7, 10, "a gift", f"{name}-{i}")
            outcomes.append("debited")
        except Refused as refused:
            assert refused.code is Refusal.INSUFFICIENT_BALANCE
            outcomes.append("insufficient_balance")
    await asyncio.gather(*(one(i) for i in range(25)))
    await close_database()
    print(json.dumps(outcomes))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_four_processes_debiting_one_sqlite_balance_never_overdraw(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/stars.sqlite3"
    await apply_migrations(url)
    await open_database(url)
    try:
        await apply_entry(7, 500, EntryKind.DEV_CREDIT)
    finally:
        await close_database()
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SCRIPT,
            url,
            f"p{n}",
            cwd=str(ROOT),
            env=child_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for n in range(4)
    ]
    outputs = [await asyncio.wait_for(p.communicate(), 120) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, [e.decode()[-800:] for _, e in outputs]
    outcomes = [o for out, _ in outputs for o in json.loads(out.decode().splitlines()[-1])]
    assert outcomes.count("debited") == 50
    assert outcomes.count("insufficient_balance") == 50
    await open_database(url)
    try:
        assert await get_balance(7) == 0
        assert await Debit.all().count() == 50
        report = await check_ledger()
        assert report.ok, report.render()
    finally:
        await close_database()
