"""A person buys Stars in the reference Mini App, in Chromium, through the sandbox.

The page loads the real telegram-web-app.js (from the npm package @twa-dev/sdk, served
in place of telegram.org's copy); the sandbox plays Telegram's web client, and the
payment goes through the real bot worker and API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.bot.conftest import System, start_system
from tests.emulator import BotApiEmulator, Fault
from tests.helpers import ALICE, BORIS, TOKEN
from tests.processes import ROOT

playwright = pytest.importorskip("playwright.async_api")
CHROMIUM = Path("/usr/bin/chromium")
SDK = ROOT / "node_modules/@twa-dev/sdk/dist/telegram-web-apps.js"
ARTIFACTS = ROOT / "tests/artifacts"
pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists() or not SDK.exists(),
        reason="needs Debian's chromium and `npm install @twa-dev/sdk` (.ci/run installs both)",
    ),
    pytest.mark.parametrize("db", ["sqlite"], indirect=True),
]
expect = playwright.expect
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


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
        yield await context.new_page()
        await browser.close()


@pytest.fixture
async def system(db: str, emulator: BotApiEmulator, aiohttp_client: Any) -> AsyncIterator[System]:
    """The worker and the API running, the emulator ready to sign sandbox initData."""
    emulator.sandbox_token = TOKEN
    running, stop, task = await start_system(aiohttp_client, emulator)
    yield running
    stop.set()
    await task


def sandbox_url(system: System, user: dict[str, Any], lang: str) -> str:
    return (
        f"{system.emulator.url}/sandbox/?app={system.api.make_url('/app/')}"
        f"&user={user['id']}&name={user['first_name']}&lang={lang}&autostart=1"
    )


async def test_buy_cancel_and_refusal_in_the_browser(system: System, page: Any) -> None:
    await page.goto(sandbox_url(system, ALICE, "en"))
    app = page.frame_locator("#app")
    await expect(app.locator("#balance")).to_have_text("0", timeout=15000)
    await expect(app.locator("button[data-amount]")).to_have_count(6)

    # Buy 100 Stars: the sheet shows the invoice, Pay goes through the bot.
    await app.locator("button[data-amount='100']").click()
    await expect(page.locator("#sheet")).to_be_visible()
    await expect(page.locator("#sheet-amount")).to_have_text("100")
    await expect(page.locator("#sheet-title")).to_have_text("100 Stars top-up")
    await page.locator("#pay").click()
    await expect(app.locator("#status")).to_have_text(
        "Done: 100 ⭐ added to your balance.", timeout=15000
    )
    await expect(app.locator("#balance")).to_have_text("100")
    assert await system.balance(ALICE) == 100
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "sandbox-purchase.png")

    # Cancel: nothing changes.
    await app.locator("button[data-amount='50']").click()
    await expect(page.locator("#sheet")).to_be_visible()
    await page.locator("#cancel").click()
    await expect(app.locator("#status")).to_have_text(
        "Payment cancelled. Nothing was charged.", timeout=10000
    )
    await expect(app.locator("#balance")).to_have_text("100")

    # The API refuses (Telegram would not create the link): a clear message.
    system.emulator.set_fault("createInvoiceLink", Fault("refuse"))
    await app.locator("button[data-amount='250']").click()
    await expect(app.locator("#status")).to_have_text(
        "Telegram could not create the invoice. Nothing was charged; please try again."
    )
    await expect(app.locator("#status")).to_have_class("error")
    await expect(page.locator("#sheet")).to_be_hidden()
    assert await system.balance(ALICE) == 100


async def test_the_page_speaks_russian_and_explains_when_opened_outside_telegram(
    system: System, page: Any
) -> None:
    await page.goto(str(system.api.make_url("/app/")))
    await expect(page.locator("#status")).to_have_text("Open this page from the bot in Telegram.")
    await page.goto(sandbox_url(system, BORIS, "ru"))
    app = page.frame_locator("#app")
    await expect(app.locator("h2")).to_have_text("Пополнить звёздами Telegram", timeout=15000)
    await app.locator("button[data-amount='50']").click()
    await page.locator("#pay").click()
    await expect(app.locator("#status")).to_have_text(
        "Готово: на баланс зачислено 50 ⭐.", timeout=15000
    )
    assert await system.balance(BORIS) == 50
