"""Chromium driving the sandbox (a stand-in Telegram client) around the real Mini App page.

The page loads the real telegram-web-app.js (from the npm package @twa-dev/sdk, served
in place of telegram.org's copy); the sandbox plays Telegram's web client, and payments
go through the real bot worker and API.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot.conftest import System, emulator, start_system
from tests.emulator import BotApiEmulator
from tests.helpers import TOKEN
from tests.processes import ROOT

__all__ = ["emulator"]

playwright = pytest.importorskip("playwright.async_api")
CHROMIUM = Path("/usr/bin/chromium")
SDK = ROOT / "node_modules/@twa-dev/sdk/dist/telegram-web-apps.js"
ARTIFACTS = ROOT / "tests/artifacts"
NEEDS_A_BROWSER = pytest.mark.skipif(
    not CHROMIUM.exists() or not SDK.exists(),
    reason="needs Debian's chromium and `npm install @twa-dev/sdk` (.ci/run installs both)",
)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVICE_KEY = "svc_browser_" + "k" * 32  # for tests that spend as an app's backend would
CLOUD_STORAGE = "8.0"  # a client version with CloudStorage (6.9+)
NO_CLOUD_STORAGE = "6.1"  # the oldest with openInvoice: the page falls back to localStorage


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


def sandbox_url(
    system: System, user: dict[str, Any], lang: str, version: str = CLOUD_STORAGE
) -> str:
    return (
        f"{system.emulator.url}/sandbox/?app={system.api.make_url('/app/')}"
        f"&user={user['id']}&name={user['first_name']}&lang={lang}&version={version}&autostart=1"
    )


def memory_key(user: dict[str, Any]) -> str:
    return f"pending_topup_{user['id']}"


async def remembered(page: Any, user: dict[str, Any]) -> dict[str, Any] | None:
    """The order the Mini App remembers for `user`: in the sandbox's CloudStorage or in the
    app's own localStorage, whichever the client version offers (never both)."""
    key = memory_key(user)
    in_cloud = await page.evaluate(
        "(slot) => localStorage.getItem(slot)", f"cloud:{user['id']}:{key}"
    )
    app = await (await page.locator("#app").element_handle()).content_frame()
    in_local = await app.evaluate("(key) => localStorage.getItem(key)", key)
    version = await page.locator("#version").input_value()
    if version == CLOUD_STORAGE:
        assert in_local is None
        found = in_cloud
    else:
        assert in_cloud is None
        found = in_local
    return json.loads(found) if found else None
