"""A buyer whose payment failed learns why it usually happens and how to fix it.

Telegram reports `failed` when the buyer has too few Stars and cannot buy more inside a
bot's payment sheet (PROVIDER_ACCOUNT_INVALID): the fix is buying Stars in Telegram itself.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.sandbox import ARTIFACTS, NEEDS_A_BROWSER, playwright, remembered, sandbox_url
from tests.helpers import ALICE, BORIS
from tests.system import System

pytestmark = [NEEDS_A_BROWSER, pytest.mark.parametrize("db", ["sqlite"], indirect=True)]
expect = playwright.expect

ADVICE = {
    "en": (
        "The payment did not go through. Nothing was charged.",
        "Not enough Stars?",
        "In Telegram, open Settings → My Stars and buy Stars there.",
        "Try again",
        "Done: 100 ⭐ added to your balance.",
    ),
    "ru": (
        "Оплата не прошла. Ничего не списано.",
        "Не хватает звёзд?",
        "Откройте в Telegram Настройки → Мои звёзды и купите звёзды там.",
        "Попробовать снова",
        "Готово: на баланс зачислено 100 ⭐.",
    ),
}


@pytest.mark.parametrize(("user", "lang"), [(ALICE, "en"), (BORIS, "ru")], ids=["en", "ru"])
async def test_a_failed_payment_tells_the_buyer_to_buy_stars_in_telegram_and_try_again(
    system: System, page: Any, user: dict[str, Any], lang: str
) -> None:
    failed, title, fix, retry, paid = ADVICE[lang]
    await page.goto(sandbox_url(system, user, lang))
    app = page.frame_locator("#app")
    await app.locator("button[data-amount='100']").click(timeout=15000)
    await expect(page.locator("#sheet")).to_be_visible()
    await page.locator("#fail").click()

    await expect(app.locator("#status")).to_have_text(failed, timeout=10000)
    await expect(app.locator("#status")).to_have_class("error")
    await expect(app.locator("#advice")).to_be_visible()
    await expect(app.locator("#advice h3")).to_have_text(title)
    await expect(app.locator("#advice")).to_contain_text(fix)
    await expect(app.locator("#actions button")).to_have_text([retry])
    assert await remembered(page, user) is None  # a failed order is over
    ARTIFACTS.mkdir(exist_ok=True)
    await page.locator(".phone").screenshot(path=ARTIFACTS / f"failed-advice-{lang}.png")

    # Having bought Stars in Telegram, the buyer tries again: a new invoice for the same amount.
    await app.locator("#actions button").click()
    await expect(page.locator("#sheet")).to_be_visible()
    await expect(page.locator("#sheet-amount")).to_have_text("100")
    await page.locator("#pay").click()
    await expect(app.locator("#status")).to_have_text(paid, timeout=15000)
    await expect(app.locator("#advice")).to_be_hidden()
    await expect(app.locator("#balance")).to_have_text("100")
    assert await system.balance(user) == 100
