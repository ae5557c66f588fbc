"""The bot's fixtures: the whole system running (tests.system), its ledger checked after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from models.queries.invariants import check_ledger
from tests.emulator import BotApiEmulator
from tests.helpers import TOKEN
from tests.system import System, start_system


@pytest.fixture
async def system(db: str, emulator: BotApiEmulator, aiohttp_client: Any) -> AsyncIterator[System]:
    running, stop, task = await start_system(aiohttp_client, emulator)
    # The worker is up once it asked for updates with the payment types.
    for _ in range(200):
        if emulator.bot(TOKEN).allowed_updates:
            break
        await asyncio.sleep(0.02)
    yield running
    stop.set()
    await asyncio.wait_for(task, 40)
    report = await check_ledger()
    assert report.ok, report.render()
