"""A person sends themselves a Telegram gift from their balance in the reference Mini
App, in Chromium: the catalog, "not enough Stars" pointing to the top-up, then the gift
paid for and sent (by the real worker, through the emulator)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.sandbox import ARTIFACTS, NEEDS_A_BROWSER, playwright, sandbox_url
from tests.emulator import BotApiEmulator
from tests.helpers import ALICE, TOKEN
from tests.system import System

pytestmark = [NEEDS_A_BROWSER, pytest.mark.parametrize("db", ["sqlite"], indirect=True)]
expect = playwright.expect
TEDDY = "5170233102089322756"


async def test_a_gift_to_oneself_needs_enough_stars_then_is_sent(
    system: System, page: Any, emulator: BotApiEmulator
) -> None:
    emulator.set_star_balance(TOKEN, 1000)
    await page.goto(sandbox_url(system, ALICE, "en"))
    app = page.frame_locator("#app")
    await expect(app.locator("#balance")).to_have_text("0", timeout=15000)
    # The sold-out gift is not offered.
    await expect(app.locator("#gift-list button")).to_have_count(3)
    await expect(app.locator(f"button[data-gift='{TEDDY}']")).to_have_text("🧸 15 ⭐")

    await app.locator(f"button[data-gift='{TEDDY}']").click()
    await expect(app.locator("#gift-status")).to_have_text(
        "Not enough Stars for this gift (15 ⭐). Top up with a package above first.",
        timeout=10000,
    )
    assert emulator.bot(TOKEN).purchases == []

    await app.locator("button[data-amount='50']").click()
    await page.locator("#pay").click()
    await expect(app.locator("#balance")).to_have_text("50", timeout=15000)
    await app.locator(f"button[data-gift='{TEDDY}']").click()
    await expect(app.locator("#gift-status")).to_have_text(
        "The gift is on its way to you.", timeout=15000
    )
    await expect(app.locator("#balance")).to_have_text("35")
    assert await system.balance(ALICE) == 35
    purchases = emulator.bot(TOKEN).purchases
    assert [p["receiver"]["user"]["id"] for p in purchases] == [ALICE["id"]]
    ARTIFACTS.mkdir(exist_ok=True)
    await page.locator(".phone").screenshot(path=ARTIFACTS / "gift-sent.png")
