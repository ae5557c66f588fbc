"""A person buys Stars in the reference Mini App, in Chromium, through the sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.sandbox import ARTIFACTS, NEEDS_A_BROWSER, playwright, sandbox_url
from tests.emulator import Fault
from tests.helpers import ALICE, BORIS
from tests.system import System

pytestmark = [NEEDS_A_BROWSER, pytest.mark.parametrize("db", ["sqlite"], indirect=True)]
expect = playwright.expect


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
    await expect(page.locator("#history")).to_be_hidden()  # nobody to show a history of
    await page.goto(sandbox_url(system, BORIS, "ru"))
    app = page.frame_locator("#app")
    await expect(app.locator("h2[data-text='choose']")).to_have_text(
        "Пополнить звёздами Telegram", timeout=15000
    )
    await app.locator("button[data-amount='50']").click()
    await page.locator("#pay").click()
    await expect(app.locator("#status")).to_have_text(
        "Готово: на баланс зачислено 50 ⭐.", timeout=15000
    )
    assert await system.balance(BORIS) == 50
