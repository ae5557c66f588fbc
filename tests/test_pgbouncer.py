"""The real processes through a real PgBouncer in transaction mode (`tests/pgbouncer.py`):
the worker and the API starting together on an empty database and a purchase, with
only the pooled URL and with a direct URL beside it for the migrations; with only the
pooled URL also a payment whose update was lost, a refund and the check, by the
operator commands (each a process of its own, forked by tests.fork_server; the direct
URL's case leaves them out to keep the suite quick, its migrations are the processes'
own code)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.databases import (
    PG_URL,
    create_pg_database,
    drop_pg_database,
    pg_address,
    pg_database_url,
    with_port,
)
from tests.emulator import BotApiEmulator, running_emulator
from tests.fork_server import ForkServer
from tests.helpers import ALICE, TOKEN, tma
from tests.pgbouncer import PgBouncer
from tests.processes import Child, free_port, start
from tests.tcp_proxy import TcpProxy

MIGRATIONS = len(
    list((Path(__file__).parent.parent / "migrations/postgres/models").glob("*_*.py"))
)


def migrated(child: Child) -> list[str]:
    """The migrations the process applied at start-up, from its JSON log."""
    for line in child.log.splitlines():
        if line.startswith("{") and (event := json.loads(line))["event"] == "database.migrated":
            return list(event["applied"])
    raise AssertionError(f"no database.migrated line:\n{child.log[-2000:]}")


class Api:
    def __init__(self, http: aiohttp.ClientSession, port: int) -> None:
        self.http, self.url = http, f"http://127.0.0.1:{port}"

    async def top_up(self, amount: int) -> dict[str, Any]:
        async with self.http.post(
            f"{self.url}/payments/top-up", json={"amount": amount}, headers=tma(ALICE)
        ) as response:
            assert response.status == 201, await response.text()
            return dict(await response.json())

    async def balance(self) -> int:
        async with self.http.get(f"{self.url}/me", headers=tma(ALICE)) as response:
            return int((await response.json())["stars_balance"])

    async def wait_paid(self, payment_id: str) -> None:
        for _ in range(200):
            async with self.http.get(
                f"{self.url}/payments/{payment_id}", headers=tma(ALICE)
            ) as response:
                if (await response.json())["status"] == "paid":
                    return
            await asyncio.sleep(0.05)
        raise AssertionError(f"order {payment_id} never became paid")


async def purchase(emulator: BotApiEmulator, api: Api) -> str:
    """Top-up, pre-checkout and payment through both processes; gives the charge id."""
    order = await api.top_up(100)
    paid = await emulator.pay(order["invoice_url"], ALICE)
    assert paid.status == "paid"
    assert paid.charge_id is not None
    await api.wait_paid(order["payment_id"])
    assert await api.balance() == 100
    return paid.charge_id


async def operator_commands(
    emulator: BotApiEmulator,
    api: Api,
    charge_id: str,
    env: dict[str, Any],
    cwd: Path,
    run_bot: ForkServer,
) -> None:
    async def cli(*args: str) -> str:
        code, out, err = await run_bot.run(*args, cwd=cwd, **env)
        assert code == 0, (args, out, err[-2000:])
        return out

    lost = await api.top_up(250)
    assert (await emulator.checkout(lost["invoice_url"], ALICE)).status == "paid"
    emulator.charge(lost["invoice_url"], ALICE, deliver=False)  # the update never came
    await cli("reconcile")
    await api.wait_paid(lost["payment_id"])
    assert await api.balance() == 350

    assert (await cli("refund", charge_id)).startswith("Refunded 100 ⭐")
    assert await api.balance() == 250
    assert "all invariants hold" in await cli("check")


@pytest.mark.parametrize("direct", [False, True], ids=["pooled-only", "direct-for-migrations"])
async def test_both_processes_and_the_operator_commands_work_through_pgbouncer(
    tmp_path: Path, pgbouncer: PgBouncer, direct: bool, run_bot_forked: ForkServer
) -> None:
    name = await create_pg_database()  # empty: the two processes migrate it together
    env: dict[str, Any] = {"BOT_TOKEN": TOKEN, "DATABASE_URL": pgbouncer.url(name)}
    # The direct URL leads through a proxy that counts who used it.
    proxy = TcpProxy(*pg_address(PG_URL))
    if direct:
        env["DATABASE_DIRECT_URL"] = with_port(pg_database_url(name), await proxy.start())
    port = free_port()
    try:
        async with running_emulator() as emulator, aiohttp.ClientSession() as http:
            env["TELEGRAM_API_URL"] = emulator.url
            worker, api = await asyncio.gather(
                start("run_bot.py", tmp_path / "bot.log", **env),
                start("run_api.py", tmp_path / "api.log", API_PORT=port, **env),
            )
            try:
                await worker.wait_for_log("Start polling", timeout=60)
                await api.wait_for_log("Running on", timeout=60)
                assert sorted(len(migrated(c)) for c in (worker, api)) == [0, MIGRATIONS]
                charge_id = await purchase(emulator, Api(http, port))
                if not direct:
                    await operator_commands(
                        emulator, Api(http, port), charge_id, env, tmp_path, run_bot_forked
                    )
            finally:
                assert await api.stop() == 0
                assert await worker.stop() == 0
    finally:
        await proxy.stop()
        await drop_pg_database(name)
    for child in (worker, api):
        assert "prepared statement" not in child.log
        assert "Traceback" not in child.log
    # Both processes migrated over the direct URL.
    assert proxy.connections >= (2 if direct else 0)
