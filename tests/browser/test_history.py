"""The Mini App shows the user's recent history: what came in, what the app spent, and the
balance after each, refreshed with the balance when a purchase ends."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.browser.sandbox import ARTIFACTS, NEEDS_A_BROWSER, SERVICE_KEY, playwright, sandbox_url
from tests.helpers import ALICE, BORIS
from tests.system import System

pytestmark = [NEEDS_A_BROWSER, pytest.mark.parametrize("db", ["sqlite"], indirect=True)]
expect = playwright.expect
SERVICE = {"Authorization": f"Bearer {SERVICE_KEY}"}
HOSTILE = '<img src=x onerror="window.pwned = 1">'


async def spend(system: System, user: dict[str, Any], amount: int, reason: str) -> str:
    """A debit made by the app's backend through the service API; returns its id."""
    response = await system.api.post(
        f"/service/users/{user['id']}/debits",
        json={"amount": amount, "reason": reason},
        headers={**SERVICE, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status == 201, await response.text()
    return str((await response.json())["debit_id"])


async def buy(page: Any, amount: int, paid: str) -> None:
    app = page.frame_locator("#app")
    await app.locator(f"button[data-amount='{amount}']").click(timeout=15000)
    await page.locator("#pay").click()
    await expect(app.locator("#status")).to_have_text(paid, timeout=15000)


async def test_the_history_shows_each_entry_signed_with_the_balance_after_it(
    system: System, page: Any
) -> None:
    await page.goto(sandbox_url(system, ALICE, "en"))
    app = page.frame_locator("#app")
    rows = app.locator("#entries li")
    await expect(app.locator("#history-empty")).to_have_text(
        "Nothing here yet. Your top-ups and purchases will show up here.", timeout=15000
    )
    await expect(rows).to_have_count(0)

    await buy(page, 100, "Done: 100 ⭐ added to your balance.")
    await expect(rows).to_have_count(1)
    await expect(app.locator("#history-empty")).to_be_hidden()

    # The app's backend spends twice, then takes one debit back; the page learns of it
    # when the next purchase ends.
    await spend(system, ALICE, 30, HOSTILE)
    gift = await spend(system, ALICE, 20, "gift: teddy bear")
    reversal = await system.api.post(
        f"/service/debits/{gift}/reversal", json={"reason": "not delivered"}, headers=SERVICE
    )
    assert reversal.status == 201
    await buy(page, 50, "Done: 50 ⭐ added to your balance.")

    await expect(app.locator("#balance")).to_have_text("120")
    await expect(rows.locator(".kind")).to_have_text(
        ["Top-up", "Returned", "Spent", "Spent", "Top-up"]
    )
    await expect(rows.locator(".amount")).to_have_text(
        ["+50 ⭐", "+20 ⭐", "−20 ⭐", "−30 ⭐", "+100 ⭐"]
    )
    await expect(rows.locator(".after")).to_have_text(
        [f"Balance: {n} ⭐" for n in (120, 70, 50, 70, 100)]
    )
    await expect(rows.nth(1).locator(".reason")).to_have_text("not delivered")
    await expect(rows.nth(2).locator(".reason")).to_have_text("gift: teddy bear")
    await expect(rows.nth(0).locator(".reason")).to_have_count(0)

    # The hostile reason is shown as the text it is, and nothing in it ran.
    await expect(rows.nth(3).locator(".reason")).to_have_text(HOSTILE)
    await expect(app.locator("#entries img")).to_have_count(0)
    frame = await (await page.locator("#app").element_handle()).content_frame()
    assert await frame.evaluate("() => window.pwned") is None

    # Each date is the entry's own moment, written out for people.
    ledger = await system.api.get(f"/service/users/{ALICE['id']}/ledger", headers=SERVICE)
    entries = (await ledger.json())["entries"]
    times = rows.locator("time")
    assert [await times.nth(i).get_attribute("datetime") for i in range(5)] == [
        e["created_at"] for e in entries
    ]
    year = entries[0]["created_at"][:4]
    for i in range(5):
        assert year in await times.nth(i).inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.locator(".phone").screenshot(path=ARTIFACTS / "history.png")


async def test_a_history_that_cannot_load_says_so_and_the_page_still_works(
    system: System, page: Any
) -> None:
    async def unavailable(route: Any) -> None:
        error = {"error": {"code": "unavailable", "message": "The database is not answering."}}
        await route.fulfill(status=503, content_type="application/json", body=json.dumps(error))

    await page.route("**/me/ledger?*", unavailable)
    await page.goto(sandbox_url(system, BORIS, "ru"))
    app = page.frame_locator("#app")
    await expect(app.locator("#history-error")).to_have_text(
        "Не удалось загрузить историю. Попробуйте позже.", timeout=15000
    )
    await expect(app.locator("#balance")).to_have_text("0")
    await expect(app.locator("button[data-amount]")).to_have_count(6)
    await expect(app.locator("#status")).to_have_text("")
    await expect(app.locator("#history-empty")).to_be_hidden()

    # Back again: the purchase works, and the history comes with the new balance.
    await page.unroute("**/me/ledger?*", unavailable)
    await buy(page, 50, "Готово: на баланс зачислено 50 ⭐.")
    rows = app.locator("#entries li")
    await expect(rows.locator(".kind")).to_have_text(["Пополнение"])
    await expect(rows.locator(".amount")).to_have_text(["+50 ⭐"])
    await expect(rows.locator(".after")).to_have_text(["Баланс: 50 ⭐"])
    await expect(app.locator("#history-error")).to_be_hidden()
    await expect(app.locator("#history h2")).to_have_text("Последние операции")


async def test_an_entry_of_a_kind_the_page_does_not_know_gets_a_neutral_name(
    system: System, page: Any
) -> None:
    # The server has no such kind today: only a stand-in answer can show a newer one.
    entry = {
        "id": 7,
        "kind": "gift_bonus",
        "amount": 15,
        "stars_balance_after": 15,
        "created_at": "2026-11-26T19:40:02.118220+00:00",
    }
    page_of_one = json.dumps({"entries": [entry], "next": None})

    async def newer_server(route: Any) -> None:
        await route.fulfill(status=200, content_type="application/json", body=page_of_one)

    await page.route("**/me/ledger?*", newer_server)
    await page.goto(sandbox_url(system, ALICE, "en"))
    app = page.frame_locator("#app")
    rows = app.locator("#entries li")
    await expect(rows.locator(".kind")).to_have_text(["Other"], timeout=15000)
    await expect(rows.locator(".amount")).to_have_text(["+15 ⭐"])
    await expect(rows.locator(".after")).to_have_text(["Balance: 15 ⭐"])
