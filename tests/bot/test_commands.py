"""The commands Telegram expects of a Stars seller, in English and Russian."""

from __future__ import annotations

import pytest

from models.tables import User
from tests.bot.conftest import System, start_system
from tests.emulator import BotApiEmulator
from tests.helpers import ADMIN, ALICE, BORIS, TOKEN

START = {"en": "Hi! This bot tops up", "ru": "Привет! Этот бот пополняет"}
PRIVACY = {"en": "Privacy policy", "ru": "Политика конфиденциальности"}
TERMS = {"en": "Terms of service", "ru": "Условия использования"}


@pytest.mark.parametrize(("user", "lang"), [(ALICE, "en"), (BORIS, "ru")])
async def test_every_command_answers_in_the_users_language(
    system: System, user: dict, lang: str
) -> None:
    replies = []
    for count, command in enumerate(("/start", "/balance", "/privacy", "/terms", "/paysupport")):
        system.say(user, command)  # one at a time: handlers run concurrently
        replies.append((await system.replies(user, count + 1))[-1])
    start, balance, privacy, terms, support = replies
    assert start.startswith(START[lang])
    assert balance == {"en": "Your balance: 0 ⭐", "ru": "Ваш баланс: 0 ⭐"}[lang]
    assert privacy.startswith(PRIVACY[lang])
    assert terms.startswith(TERMS[lang])
    assert support.startswith({"en": "Payment support", "ru": "Поддержка по платежам"}[lang])


async def test_users_are_remembered_from_their_updates(system: System) -> None:
    system.say(BORIS, "/balance")
    await system.replies(BORIS)
    await system.settle()
    stored = await User.get(id=BORIS["id"])
    assert (stored.username, stored.first_name, stored.language_code) == ("boris", "Борис", "ru")


async def test_paysupport_lists_payments_and_reaches_the_admins(system: System) -> None:
    order = await system.order(ALICE, 500)
    outcome = await system.emulator.pay(order["invoice_url"], ALICE)
    await system.settle()
    await system.replies(ALICE)  # the confirmation
    system.say(ALICE, "/paysupport my stars did not arrive")
    _, support = await system.replies(ALICE, 2)
    assert f"500 ⭐, credited, charge {outcome.charge_id}" in support
    assert "do not pay again" in support
    [forwarded] = await system.replies(ADMIN)
    assert "my stars did not arrive" in forwarded
    assert str(ALICE["id"]) in forwarded
    assert outcome.charge_id in forwarded


async def test_start_offers_the_mini_app_when_configured(
    db: str, emulator: BotApiEmulator, aiohttp_client
) -> None:
    system, stop, task = await start_system(
        aiohttp_client, emulator, webapp_url="https://app.example.org/"
    )
    try:
        system.say(ALICE, "/start")
        await system.replies(ALICE)
        [message] = emulator.messages_to(TOKEN, ALICE["id"])
        button = message["reply_markup"]["inline_keyboard"][0][0]
        assert button == {"text": "Open the app", "web_app": {"url": "https://app.example.org/"}}
    finally:
        stop.set()
        await task


async def test_privacy_and_terms_texts_are_configurable(
    db: str, emulator: BotApiEmulator, aiohttp_client
) -> None:
    system, stop, task = await start_system(
        aiohttp_client, emulator, privacy_text="Our privacy.", terms_text="Our terms."
    )
    try:
        system.say(ALICE, "/privacy")
        assert await system.replies(ALICE) == ["Our privacy."]
        system.say(ALICE, "/terms")
        assert await system.replies(ALICE, 2) == ["Our privacy.", "Our terms."]
    finally:
        stop.set()
        await task


async def test_the_command_list_is_set_in_both_languages(system: System) -> None:
    commands = system.emulator.bot(TOKEN).commands
    assert {"", "en", "ru"} <= set(commands)
    assert [c["command"] for c in commands["ru"]] == [
        "start",
        "balance",
        "paysupport",
        "privacy",
        "terms",
    ]
    assert commands["ru"][1]["description"] == "Баланс звёзд"


async def test_payment_updates_leave_the_profile_to_the_api(system: System) -> None:
    """The API wrote the profile when it opened the order; a payment spike adds no
    profile writes (the credit still makes sure the user exists)."""
    order = await system.order(ALICE)
    renamed = {**ALICE, "first_name": "Alicia"}
    await system.emulator.pay(order["invoice_url"], renamed)
    await system.settle()
    assert (await User.get(id=ALICE["id"])).first_name == "Alice"
    system.say(renamed, "/balance")
    await system.replies(renamed)
    await system.settle()
    assert (await User.get(id=ALICE["id"])).first_name == "Alicia"
