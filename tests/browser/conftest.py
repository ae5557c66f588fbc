"""Chromium driving the sandbox (a stand-in Telegram client) around the real Mini App page.

The page loads the real telegram-web-app.js (from the npm package @twa-dev/sdk, served
in place of telegram.org's copy); the sandbox plays Telegram's web client, and payments
go through the real bot worker and API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.browser.sandbox import CHROMIUM, FLAGS, SDK, SERVICE_KEY, playwright
from tests.emulator import BotApiEmulator
from tests.helpers import TOKEN
from tests.system import System, start_system


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    async with playwright.async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        context = await browser.new_context(viewport={"width": 760, "height": 780})
        await context.route(
            "https://telegram.org/js/telegram-web-app.js",
            lambda route: route.fulfill(path=SDK, content_type="application/javascript"),
        )
        page = await context.new_page()
        errors: list[str] = []  # uncaught exceptions in the sandbox or the Mini App
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        await browser.close()
        assert errors == []


@pytest.fixture
async def system(db: str, emulator: BotApiEmulator, aiohttp_client: Any) -> AsyncIterator[System]:
    """The worker and the API running, the emulator ready to sign sandbox initData."""
    emulator.sandbox_token = TOKEN
    running, stop, task = await start_system(
        aiohttp_client, emulator, service_api_keys=[SERVICE_KEY]
    )
    yield running
    stop.set()
    await task
