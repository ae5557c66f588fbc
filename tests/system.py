"""The whole system in one test process: the real worker polling the emulator over
HTTP and the real API on an aiohttp test server, one database; and the worker as a
process of its own, with an order for it to take payment for."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram.types import LabeledPrice

from api.app import create_app
from bot.notifier import Notifier
from bot.worker import Worker
from models.infra.db import close_database, open_database
from models.infra.settings import Settings
from models.infra.telegram import make_bot
from models.orders.opening import open_order
from models.values import Profile
from tests.emulator import BotApiEmulator
from tests.helpers import ALICE, TOKEN, ApiClient, make_settings, tma
from tests.processes import Child, start


@dataclass
class System:
    emulator: BotApiEmulator
    settings: Settings
    worker: Worker
    api: ApiClient

    async def order(self, user: dict[str, Any], amount: int = 100) -> dict[str, Any]:
        response = await self.api.post(
            "/payments/top-up", json={"amount": amount}, headers=tma(user)
        )
        assert response.status in (200, 201), await response.text()
        return dict(await response.json())

    async def balance(self, user: dict[str, Any]) -> int:
        body = await (await self.api.get("/me", headers=tma(user))).json()
        return int(body["stars_balance"])

    async def status(self, user: dict[str, Any], payment_id: str) -> str:
        response = await self.api.get(f"/payments/{payment_id}", headers=tma(user))
        return str((await response.json())["status"])

    def say(self, user: dict[str, Any], text: str, chat: dict[str, Any] | None = None) -> None:
        self.emulator.send_text(TOKEN, user, text, chat)

    async def replies(self, user: dict[str, Any], count: int = 1) -> list[str]:
        messages = await self.emulator.wait_for_message(TOKEN, user["id"], count)
        return [m["text"] for m in messages]

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the worker has taken every update and finished its handlers, and
        the profile writes they left in the background (bot.middlewares.ProfileCache)."""
        state = self.emulator.bot(TOKEN)

        def idle() -> bool:
            return (
                not state.updates
                and all(t.done() for t in self.worker.running.tasks)
                and not self.worker.profiles.tasks
            )

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            # Idle twice, a moment apart: a fetched update's task may not have started yet.
            if idle():
                await asyncio.sleep(0.05)
                if idle():
                    return
            await asyncio.sleep(0.02)
        raise AssertionError("the worker did not settle")


async def start_system(
    aiohttp_client: Any, emulator: BotApiEmulator, **overrides: Any
) -> tuple[System, asyncio.Event, asyncio.Task[None]]:
    settings = make_settings(
        **{
            "telegram_api_url": emulator.url,
            "topup_max_pending": 1000,
            "topup_per_minute": 1000,
            "reconcile_interval": 3600,
            **overrides,
        }
    )
    bot = make_bot(settings)
    worker = Worker(
        settings, bot=bot, polling_timeout=1, notifier=Notifier(bot, per_chat_interval=0.02)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    client = await aiohttp_client(create_app(settings, init_orm=False))
    return System(emulator, settings, worker, client), stop, task


async def start_worker(
    tmp_path: Path, emulator: BotApiEmulator, db_url: str, name: str = "bot", **env: object
) -> Child:
    return await start(
        "run_bot.py",
        tmp_path / f"{name}.log",
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=emulator.url,
        DATABASE_URL=db_url,
        **env,
    )


async def invoice_for(emulator: BotApiEmulator, db_url: str, amount: int = 100) -> str:
    """An order in the worker's database and its invoice link, as the API would make."""
    await open_database(db_url)
    try:
        order = await open_order(
            Profile(ALICE["id"]), amount, ttl=3600, max_pending=9, per_minute=9
        )
    finally:
        await close_database()
    bot = make_bot(make_settings(telegram_api_url=emulator.url))
    try:
        return await bot.create_invoice_link(
            title="t",
            description="d",
            payload=str(order.id),
            currency="XTR",
            prices=[LabeledPrice(label="x", amount=amount)],
        )
    finally:
        await bot.session.close()
