"""Backups that restore: a backup taken in the middle of a purchase burst, restored into a
fresh database, with the worker started on it, catches up with Telegram (reconciliation
reads getStarTransactions from the cursor the backup holds) and passes `check` with
every charge credited exactly once. The backup commands are those of
docs/operating-a-year.md: SQLite's online backup (Python's sqlite3 API) and pg_dump.

Slow: the real worker runs as a process, twice.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import LabeledPrice

from models.infra.db import apply_migrations, close_database, open_database
from models.infra.telegram import make_bot
from models.kinds import EntryKind
from models.orders.opening import open_order
from models.tables import LedgerEntry
from models.values import Profile
from tests.databases import (
    NO_PG_REASON,
    PG_URL,
    create_pg_database,
    drop_pg_database,
    pg_database_url,
)
from tests.emulator import BotApiEmulator
from tests.helpers import TOKEN, make_settings
from tests.processes import run
from tests.system import start_worker

pytestmark = pytest.mark.slow
PURCHASES = 60
LATE = 10  # purchases paid only after the backup was taken


def buyer(i: int) -> dict[str, Any]:
    return {"id": 70_000 + i, "first_name": f"Buyer {i}", "language_code": "en"}


async def invoice_links(emulator: BotApiEmulator, db_url: str) -> list[str]:
    await open_database(db_url, pool_size=2)
    try:
        orders = [
            await open_order(
                Profile(int(buyer(i)["id"])), 50 + i, ttl=3600, max_pending=9, per_minute=99
            )
            for i in range(PURCHASES)
        ]
    finally:
        await close_database()
    bot = make_bot(make_settings(telegram_api_url=emulator.url))
    try:
        return [
            await bot.create_invoice_link(
                title="t",
                description="d",
                payload=str(order.id),
                currency="XTR",
                prices=[LabeledPrice(label="x", amount=order.amount)],
            )
            for order in orders
        ]
    finally:
        await bot.session.close()


async def credited(db_url: str) -> list[str]:
    await open_database(db_url, pool_size=2)
    try:
        rows = await LedgerEntry.filter(kind=EntryKind.TOPUP).values_list(
            "telegram_payment_charge_id", flat=True
        )
        return [str(row) for row in rows]
    finally:
        await close_database()


async def wait_credited(db_url: str, charges: set[str], timeout: float = 60) -> list[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await credited(db_url)
        if charges <= set(found) or loop.time() > deadline:
            return found
        await asyncio.sleep(0.5)


def online_backup(path: str, backup: Path) -> None:
    """Python's sqlite3 backup API, as docs/operations.md#backups gives it."""
    source, target = sqlite3.connect(path), sqlite3.connect(backup)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


async def shell(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_backup_taken_mid_burst_restores_and_reconciles_every_charge_once(
    tmp_path: Path, emulator: BotApiEmulator, backend: str
) -> None:
    dropped: list[str] = []
    if backend == "sqlite":
        live = f"sqlite://{tmp_path}/stars.sqlite3"
        restored = f"sqlite://{tmp_path}/restored/stars.sqlite3"
    else:
        if not PG_URL:
            pytest.skip(NO_PG_REASON)
        dropped = [await create_pg_database(), await create_pg_database()]
        live, restored = (pg_database_url(name) for name in dropped)
    try:
        await apply_migrations(live)
        links = await invoice_links(emulator, live)
        worker = await start_worker(tmp_path, emulator, live, RECONCILE_INTERVAL=1)
        await worker.wait_for_log("Start polling", timeout=60)
        charges: set[str] = set()
        limit = asyncio.Semaphore(6)
        # The burst goes on while the backup is taken; its last purchases wait for the
        # backup to end, so that however fast the machine, the backup misses some.
        backed_up = asyncio.Event()

        async def purchase(i: int) -> None:
            if i >= PURCHASES - LATE:
                await backed_up.wait()
            async with limit:
                outcome = await emulator.pay(links[i], buyer(i))
                assert outcome.status == "paid", outcome
                assert outcome.charge_id is not None
                charges.add(outcome.charge_id)

        burst = asyncio.ensure_future(asyncio.gather(*(purchase(i) for i in range(PURCHASES))))
        while len(charges) < PURCHASES // 2:
            await asyncio.sleep(0.05)
        backup = tmp_path / ("backup.sqlite3" if backend == "sqlite" else "backup.dump")
        if backend == "sqlite":  # the online backup, while the worker writes
            await asyncio.to_thread(online_backup, live.removeprefix("sqlite://"), backup)
        else:
            await shell("pg_dump", "-Fc", "-d", live, "-f", str(backup))
        taken_at = len(charges)
        backed_up.set()
        await burst
        assert len(charges) == PURCHASES
        assert set(await wait_credited(live, charges)) == charges
        assert await worker.stop() == 0

        if backend == "sqlite":
            Path(restored.removeprefix("sqlite://")).parent.mkdir()
            shutil.copy(backup, restored.removeprefix("sqlite://"))
        else:
            await shell("pg_restore", "--no-owner", "-d", restored, str(backup))
        in_backup = set(await credited(restored))
        assert in_backup < charges  # the backup missed the later part of the burst
        assert taken_at <= PURCHASES

        worker = await start_worker(
            tmp_path, emulator, restored, name="restored", RECONCILE_INTERVAL=1
        )
        try:
            after = await wait_credited(restored, charges)
        finally:
            assert await worker.stop() == 0
        assert sorted(after) == sorted(charges)  # each once: no duplicates
        code, out, err = await run(
            "run_bot.py",
            "check",
            cwd=tmp_path,
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=emulator.url,
            DATABASE_URL=restored,
        )
        assert code == 0, out + err
        assert "all invariants hold" in out
    finally:
        for name in dropped:
            await drop_pg_database(name)
