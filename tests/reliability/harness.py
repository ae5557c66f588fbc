"""The whole system as it runs in production, for the reliability cases.

`run_bot.py` and `run_api.py` run as child processes on PostgreSQL, reached through a
TCP proxy the test controls; the Bot API emulator runs in the test process and plays
Telegram and the buyers.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.texts import text
from models.infra.db import apply_migrations, close_database, open_database
from models.kinds import EntryKind
from models.tables import LedgerEntry
from tests.databases import (
    create_pg_database,
    drop_pg_database,
    pg_address,
    pg_database_url,
    with_port,
)
from tests.emulator import BotApiEmulator
from tests.helpers import TOKEN, tma
from tests.processes import Child, free_port, run, start
from tests.tcp_proxy import TcpProxy


def buyer(index: int) -> dict[str, Any]:
    return {
        "id": 50_000 + index,
        "first_name": f"Buyer {index}",
        "language_code": "ru" if index % 2 else "en",
    }


@dataclass
class Stack:
    tmp_path: Path
    emulator: BotApiEmulator
    reconcile_interval: float = 3.0
    db_name: str = ""
    proxy: TcpProxy | None = None
    telegram: TcpProxy | None = None  # in front of the emulator, to make it unreachable
    bot: Child | None = None
    api: Child | None = None
    api_url: str = ""
    http: aiohttp.ClientSession | None = None
    charges: dict[str, int] = field(default_factory=dict)
    bot_starts: int = 0

    @property
    def direct_url(self) -> str:
        return pg_database_url(self.db_name)

    @property
    def app_url(self) -> str:
        assert self.proxy is not None
        return with_port(self.direct_url, self.proxy.port)

    async def __aenter__(self) -> Stack:
        self.db_name = await create_pg_database()
        await apply_migrations(self.direct_url)
        self.proxy = TcpProxy(*pg_address(self.direct_url))
        await self.proxy.start()
        emulator_port = int(self.emulator.url.rsplit(":", 1)[1])
        self.telegram = TcpProxy("127.0.0.1", emulator_port)
        await self.telegram.start()
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        await self.start_api()
        await self.start_bot()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for child in (self.bot, self.api):
            if child is not None:
                child.kill()
                await child.process.wait()
        if self.http is not None:
            await self.http.close()
        for proxy in (self.proxy, self.telegram):
            if proxy is not None:
                await proxy.stop()
        await drop_pg_database(self.db_name)

    def env(self) -> dict[str, Any]:
        assert self.telegram is not None
        return {
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": f"http://127.0.0.1:{self.telegram.port}",
            "DATABASE_URL": self.app_url,
            "RECONCILE_INTERVAL": self.reconcile_interval,
            "TOPUP_MAX_PENDING": 100_000,
            "TOPUP_PER_MINUTE": 100_000,
            "LOG_LEVEL": "INFO",
        }

    async def start_bot(self) -> None:
        self.bot_starts += 1
        self.bot = await start(
            "run_bot.py", self.tmp_path / f"bot{self.bot_starts}.log", **self.env()
        )
        await self.bot.wait_for_log("Start polling", timeout=60)

    async def kill_bot(self) -> None:
        assert self.bot is not None
        self.bot.kill()
        await self.bot.process.wait()

    async def start_api(self) -> None:
        port = free_port()
        self.api = await start(
            "run_api.py", self.tmp_path / "api.log", API_PORT=port, **self.env()
        )
        await self.api.wait_for_log("Running on", timeout=60)
        self.api_url = f"http://127.0.0.1:{port}"

    async def order(self, user: dict[str, Any], amount: int) -> str:
        """An invoice link from the API, asking again while it answers 5xx."""
        assert self.http is not None
        while True:
            try:
                async with self.http.post(
                    f"{self.api_url}/payments/top-up", json={"amount": amount}, headers=tma(user)
                ) as r:
                    if r.status in (200, 201):  # 200: an open order given back
                        return str((await r.json())["invoice_url"])
                    assert r.status >= 500, await r.text()
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.3)

    async def api_status_of_top_up(self, user: dict[str, Any]) -> int:
        assert self.http is not None
        async with self.http.post(
            f"{self.api_url}/payments/top-up", json={"amount": 100}, headers=tma(user)
        ) as response:
            return response.status

    async def buy(
        self, user: dict[str, Any], amount: int, *, deliver: bool = True, deadline: float = 4.0
    ) -> str:
        """One purchase, done as a person would: retry until Telegram takes the Stars."""
        link = await self.order(user, amount)
        while True:
            outcome = await self.emulator.checkout(link, user, deadline=deadline)
            if outcome.status == "paid":
                charge_id = self.emulator.charge(link, user, deliver=deliver)
                self.charges[charge_id] = amount
                return charge_id
            if outcome.status == "rejected" and outcome.error_message in (
                text("en", "checkout_already_paid"),
                text("ru", "checkout_already_paid"),
            ):
                # Buy pressed again just as a payment of the same amount went through:
                # the order given back was that one. A person presses Buy once more.
                link = await self.order(user, amount)
                continue
            if outcome.status == "rejected":
                assert "try again" in (outcome.error_message or "") or "попробуйте" in (
                    outcome.error_message or ""
                ), outcome
            await asyncio.sleep(0.2 + random.random() * 0.3)

    async def ledger(self) -> dict[str, int]:
        await open_database(self.direct_url, pool_size=2)
        try:
            rows = await LedgerEntry.filter(kind=EntryKind.TOPUP).values_list(
                "telegram_payment_charge_id", "amount"
            )
        finally:
            await close_database()
        return dict(rows)

    async def wait_all_credited(self, timeout: float) -> dict[str, int]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            ledger = await self.ledger()
            if all(charge in ledger for charge in self.charges) or loop.time() > deadline:
                return ledger
            await asyncio.sleep(0.5)

    async def check(self) -> tuple[int, str]:
        code, out, err = await run(
            "run_bot.py",
            "check",
            cwd=self.tmp_path,
            **{**self.env(), "DATABASE_URL": self.direct_url},
        )
        return code, out + err
