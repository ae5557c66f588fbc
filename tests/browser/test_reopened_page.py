"""A Mini App closed or reloaded in the middle of a payment tells, when opened again, how
that payment ended: the page remembers the order it opened (in Telegram's CloudStorage, or
in localStorage on clients without it) until the order is over."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from models.orders.opening import expire_orders
from models.values import utcnow
from tests.browser.sandbox import (
    ARTIFACTS,
    CLOUD_STORAGE,
    NEEDS_A_BROWSER,
    NO_CLOUD_STORAGE,
    memory_key,
    playwright,
    remembered,
    sandbox_url,
)
from tests.emulator import Fault
from tests.helpers import ALICE, BORIS
from tests.system import System

pytestmark = [NEEDS_A_BROWSER, pytest.mark.parametrize("db", ["sqlite"], indirect=True)]
expect = playwright.expect
PAID = "Done: {} ⭐ added to your balance."
STILL_OPEN = "Your payment of {} ⭐ is still open."


async def open_invoice(page: Any, amount: int) -> Any:
    app = page.frame_locator("#app")
    await app.locator(f"button[data-amount='{amount}']").click(timeout=15000)
    await expect(page.locator("#sheet")).to_be_visible()
    await expect(page.locator("#sheet-amount")).to_have_text(str(amount))
    return app


async def leave_unpaid(page: Any) -> None:
    """The Mini App closes with the sheet open, then the sheet is dismissed: the order stays
    pending on the server, and the page never heard how it ended."""
    await page.locator("#close").click()
    await page.locator("#cancel").click()
    await expect(page.locator("#sheet")).to_be_hidden()


@pytest.mark.parametrize("version", [CLOUD_STORAGE, NO_CLOUD_STORAGE], ids=["cloud", "local"])
async def test_a_page_closed_right_after_pay_shows_the_payment_when_reopened(
    system: System, page: Any, version: str
) -> None:
    # The bot takes a moment to confirm, so the app is surely closed before the sheet closes.
    system.emulator.set_fault("answerPreCheckoutQuery", Fault("slow", delay=1.5, times=1))
    await page.goto(sandbox_url(system, ALICE, "en", version))
    app = await open_invoice(page, 100)
    order = await remembered(page, ALICE)
    assert order is not None
    assert order["amount"] == 100

    await page.locator("#pay").click()
    await page.locator("#close").click()
    await expect(page.locator("#sheet")).to_be_hidden(timeout=15000)  # paid in Telegram

    await page.locator("#open").click()
    await expect(app.locator("#status")).to_have_text(PAID.format(100), timeout=15000)
    await expect(app.locator("#balance")).to_have_text("100")
    assert await remembered(page, ALICE) is None
    assert await system.balance(ALICE) == 100


async def test_a_page_reopened_while_the_sheet_is_open_follows_the_payment(
    system: System, page: Any
) -> None:
    await page.goto(sandbox_url(system, ALICE, "en"))
    app = await open_invoice(page, 250)

    await page.locator("#open").click()  # a reload: the sheet stays open in Telegram
    await expect(app.locator("#status")).to_have_text(STILL_OPEN.format(250), timeout=15000)
    await expect(app.locator("#actions button")).to_have_text(["Continue paying", "Cancel"])
    ARTIFACTS.mkdir(exist_ok=True)
    await page.locator(".phone").screenshot(path=ARTIFACTS / "reopened-still-open.png")

    await page.locator("#pay").click()
    await expect(app.locator("#status")).to_have_text(PAID.format(250), timeout=15000)
    await expect(app.locator("#balance")).to_have_text("250")
    await expect(app.locator("#actions button")).to_have_count(0)
    assert await remembered(page, ALICE) is None


async def test_a_still_open_order_can_be_paid_or_cancelled_from_the_reopened_page(
    system: System, page: Any
) -> None:
    await page.goto(sandbox_url(system, ALICE, "en"))
    await open_invoice(page, 50)
    await leave_unpaid(page)
    await page.locator("#open").click()
    app = page.frame_locator("#app")
    await expect(app.locator("#status")).to_have_text(STILL_OPEN.format(50), timeout=15000)

    await app.get_by_role("button", name="Continue paying").click()
    await expect(page.locator("#sheet")).to_be_visible()
    await expect(page.locator("#sheet-amount")).to_have_text("50")
    await page.locator("#pay").click()
    await expect(app.locator("#status")).to_have_text(PAID.format(50), timeout=15000)
    await expect(app.locator("#balance")).to_have_text("50")

    await open_invoice(page, 100)
    await leave_unpaid(page)
    await page.locator("#open").click()
    await expect(app.locator("#status")).to_have_text(STILL_OPEN.format(100), timeout=15000)
    await app.get_by_role("button", name="Cancel").click()
    await expect(app.locator("#status")).to_have_text("Payment cancelled. Nothing was charged.")
    assert await remembered(page, ALICE) is None
    assert await system.balance(ALICE) == 50


READS = "document.getElementById('log').textContent.split('getStorageValues: ok').length - 1"


async def cloud_reads(page: Any) -> int:
    """How many times the sandbox has answered the app's CloudStorage reads."""
    return int(await page.evaluate(READS))


async def until_read_after(page: Any, reads: int) -> None:
    await page.wait_for_function(f"(reads) => {READS} > reads", arg=reads)


async def test_a_remembered_order_that_expired_is_shown_once_and_then_forgotten(
    system: System, page: Any
) -> None:
    await page.goto(sandbox_url(system, ALICE, "en"))
    await open_invoice(page, 100)
    await leave_unpaid(page)
    assert await expire_orders(utcnow() + timedelta(days=2)) == 1

    await page.locator("#open").click()
    app = page.frame_locator("#app")
    await expect(app.locator("#status")).to_have_text(
        "This invoice has expired. Please try again.", timeout=15000
    )
    await expect(app.locator("#status")).to_have_class("error")
    assert await remembered(page, ALICE) is None

    reads = await cloud_reads(page)
    await page.locator("#open").click()
    await expect(app.locator("#balance")).to_have_text("0", timeout=15000)
    await until_read_after(page, reads)
    await expect(app.locator("#status")).to_have_text("")


async def stored(page: Any, user: dict[str, Any], version: str) -> Any:
    """Where the page keeps `user`'s order: a localStorage and the key in it."""
    if version == CLOUD_STORAGE:  # the sandbox keeps CloudStorage in its own localStorage
        return page, f"cloud:{user['id']}:{memory_key(user)}"
    for _ in range(100):  # the iframe has no frame while it is being reloaded
        frame = await (await page.locator("#app").element_handle()).content_frame()
        if frame is not None:
            return frame, memory_key(user)
        await asyncio.sleep(0.05)
    raise AssertionError("the Mini App frame never came back")


@pytest.mark.parametrize("version", [CLOUD_STORAGE, NO_CLOUD_STORAGE], ids=["cloud", "local"])
async def test_an_order_remembered_for_another_account_is_never_shown(
    system: System, page: Any, version: str
) -> None:
    await page.goto(sandbox_url(system, ALICE, "en", version))
    await open_invoice(page, 100)
    where, alices_key = await stored(page, ALICE, version)
    alices = await where.evaluate("(key) => localStorage.getItem(key)", alices_key)
    assert json.loads(alices)["amount"] == 100
    await leave_unpaid(page)

    # Boris on the same browser: Alice's order is not his to see, and stays hers.
    await page.goto(sandbox_url(system, BORIS, "ru", version))
    app = page.frame_locator("#app")
    await expect(app.locator("#balance")).to_have_text("0", timeout=15000)
    if version == CLOUD_STORAGE:
        await until_read_after(page, 0)
    await expect(app.locator("#status")).to_have_text("")
    where, borises_key = await stored(page, BORIS, version)
    assert await where.evaluate("(key) => localStorage.getItem(key)", alices_key) == alices

    # Even if her order ends up under his key, the API does not know it for him: the page
    # drops it without a word.
    await where.evaluate(
        "([key, order]) => localStorage.setItem(key, order)", [borises_key, alices]
    )
    await page.locator("#open").click()
    where, _ = await stored(page, BORIS, version)
    await where.wait_for_function("(key) => localStorage.getItem(key) === null", arg=borises_key)
    await expect(app.locator("#status")).to_have_text("")
    await expect(app.locator("button[data-amount='100']")).to_be_enabled()
