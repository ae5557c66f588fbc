"""The real `run_bot.py` process: start-up hygiene, polling conflicts, clean stops, secrets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from models.infra.db import apply_migrations, close_database, open_database
from models.tables import LedgerEntry
from tests.databases import (
    PG_URL,
    create_pg_database,
    drop_pg_database,
    pg_address,
    pg_database_url,
    with_port,
)
from tests.emulator import BotApiEmulator
from tests.helpers import ALICE, TOKEN
from tests.processes import STARTUP
from tests.system import invoice_for, start_worker
from tests.tcp_proxy import TcpProxy


async def test_start_up_removes_a_webhook_keeps_pending_updates_and_fixes_allowed_updates(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    state = emulator.bot(TOKEN)
    state.webhook_url = "https://old-deployment.example.org/hook"
    state.allowed_updates = ["message"]  # left by an older deployment: no pre-checkouts
    emulator.send_text(TOKEN, ALICE, "/balance")  # waiting since before the start
    db_url = f"sqlite://{tmp_path}/stars.sqlite3"
    worker = await start_worker(tmp_path, emulator, db_url, LOG_LEVEL="DEBUG")
    try:
        # The deadline covers the start (tests.processes.STARTUP) and the answer.
        [reply] = await emulator.wait_for_message(TOKEN, ALICE["id"], timeout=STARTUP)
        assert reply["text"] == "Your balance: 0 ⭐"
        assert state.webhook_url == ""
        assert not any(
            call.get("drop_pending_updates") for call in state.calls_of("deleteWebhook")
        )
        assert set(state.allowed_updates or []) >= {"message", "pre_checkout_query"}
        outcome = await emulator.checkout(await invoice_for(emulator, db_url), ALICE)
        assert outcome.status == "paid"
    finally:
        assert await worker.stop() == 0
    log = worker.log
    assert "worker.stopped" in log
    assert TOKEN not in log
    assert TOKEN.split(":")[1] not in log


async def test_a_second_deployment_polling_the_same_token_is_reported_loudly(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    # Workers sharing a database take turns (test_standby_worker.py); two databases
    # means two deployments on one token, which nothing can arbitrate.
    first = await start_worker(tmp_path, emulator, f"sqlite://{tmp_path}/one.sqlite3", "first")
    await first.wait_for_log("Start polling")
    second = await start_worker(tmp_path, emulator, f"sqlite://{tmp_path}/two.sqlite3", "second")
    try:
        deadline = asyncio.get_running_loop().time() + STARTUP  # the second's start
        while "polling.conflict" not in first.log + second.log:
            assert asyncio.get_running_loop().time() < deadline, first.log[-2000:]
            await asyncio.sleep(0.1)
        assert "workers take turns only when they share one DATABASE_URL" in (
            first.log + second.log
        )
    finally:
        await second.stop()
        await first.stop()


@dataclass
class ProxiedDatabase:
    direct: str  # for the test itself
    through_proxy: str  # for the worker, which the proxy can make hang
    proxy: TcpProxy


@pytest.fixture
async def proxied_pg() -> AsyncIterator[ProxiedDatabase]:
    if not PG_URL:
        pytest.skip("needs TEST_POSTGRES_URL: the database is made to hang")
    name = await create_pg_database()
    direct = pg_database_url(name)
    await apply_migrations(direct)
    proxy = TcpProxy(*pg_address(direct))
    through_proxy = with_port(direct, await proxy.start())
    try:
        yield ProxiedDatabase(direct, through_proxy, proxy)
    finally:
        await proxy.stop()
        await drop_pg_database(name)


async def test_sigterm_lets_a_payment_in_flight_finish_before_the_database_closes(
    tmp_path: Path, emulator: BotApiEmulator, proxied_pg: ProxiedDatabase
) -> None:
    worker = await start_worker(tmp_path, emulator, proxied_pg.through_proxy)
    await worker.wait_for_log("Start polling")
    link = await invoice_for(emulator, proxied_pg.direct)
    outcome = await emulator.checkout(link, ALICE)
    assert outcome.status == "paid"
    proxied_pg.proxy.hang()  # the database stops answering mid-payment
    state = emulator.bot(TOKEN)
    charge_id = emulator.charge(link, ALICE)
    while not any("successful_payment" in str(u) for u in state.delivered):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    worker.process.send_signal(15)
    await asyncio.sleep(1.5)
    assert worker.process.returncode is None  # still waiting for the handler
    proxied_pg.proxy.restore()
    assert await asyncio.wait_for(worker.process.wait(), 40) == 0
    await open_database(proxied_pg.direct)
    try:
        assert await LedgerEntry.filter(telegram_payment_charge_id=charge_id).count() == 1
    finally:
        await close_database()
    assert "shutdown.draining_handlers" in worker.log


async def test_a_hanging_database_still_gets_every_checkout_answered_in_time(
    tmp_path: Path, emulator: BotApiEmulator, proxied_pg: ProxiedDatabase
) -> None:
    worker = await start_worker(tmp_path, emulator, proxied_pg.through_proxy)
    await worker.wait_for_log("Start polling")
    links = [await invoice_for(emulator, proxied_pg.direct) for _ in range(5)]
    proxied_pg.proxy.hang()  # connections stay open, nothing comes back
    outcomes = await asyncio.gather(*(emulator.checkout(link, ALICE) for link in links))
    for outcome in outcomes:
        assert outcome.status == "rejected"
        assert outcome.answer_seconds is not None
        assert outcome.answer_seconds < 10
        assert outcome.error_message == (
            "We could not check this order just now. Please try again in a minute."
        )
    proxied_pg.proxy.restore()
    assert (await emulator.checkout(links[0], ALICE)).status == "paid"
    assert await worker.stop() == 0
