"""The commands Telegram expects of a Stars seller, in English and Russian."""

from __future__ import annotations

from typing import Any

import pytest

from models.tables import User
from tests.emulator import BotApiEmulator, ChatFault, Fault
from tests.helpers import ADMIN, ALICE, BORIS, GROUP, TOKEN
from tests.system import System, start_system

START = {"en": "Hi! This bot tops up", "ru": "Привет! Этот бот пополняет"}
PRIVACY = {"en": "Privacy policy", "ru": "Политика конфиденциальности"}
TERMS = {"en": "Terms of service", "ru": "Условия использования"}


@pytest.mark.parametrize(("user", "lang"), [(ALICE, "en"), (BORIS, "ru")])
async def test_every_command_answers_in_the_users_language(
    system: System, user: dict[str, Any], lang: str
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
    assert outcome.charge_id is not None
    assert outcome.charge_id in forwarded


async def test_paysupport_waits_out_a_flood_limit_to_reach_the_admins(system: System) -> None:
    system.emulator.set_chat_fault(TOKEN, ADMIN["id"], ChatFault("flood", retry_after=1))
    system.say(ALICE, "/paysupport where are my stars")
    [forwarded] = await system.replies(ADMIN)
    assert "where are my stars" in forwarded
    [support] = await system.replies(ALICE)
    assert "Your request has been passed to our support team" in support
    calls = system.emulator.bot(TOKEN).calls_of("sendMessage")
    assert [int(c["chat_id"]) for c in calls].count(ADMIN["id"]) == 2  # refused, then sent


async def test_start_offers_the_mini_app_when_configured(
    db: str, emulator: BotApiEmulator, aiohttp_client: Any
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
    db: str, emulator: BotApiEmulator, aiohttp_client: Any
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


PRIVATE_CHAT_BUTTON = {
    "text": "Open a private chat",
    "url": f"https://t.me/stars_test_{TOKEN.split(':')[0]}_bot",
}


@pytest.mark.parametrize("command", ["/balance", "/paysupport my stars", "/refund stx1"])
async def test_payment_commands_in_a_group_point_to_the_private_chat(
    system: System, command: str
) -> None:
    sender = ADMIN if command.startswith("/refund") else ALICE
    system.say(sender, command, chat=GROUP)
    await system.emulator.wait_for_message(TOKEN, GROUP["id"])
    await system.settle()
    [reply] = system.emulator.messages_to(TOKEN, GROUP["id"])
    name = command.split()[0]
    assert reply["text"] == f"Payments are private: please send {name} to me in a private chat."
    assert reply["reply_markup"]["inline_keyboard"] == [[PRIVATE_CHAT_BUTTON]]
    # Nothing was answered, forwarded or refunded anywhere else.
    assert [m["chat"]["id"] for m in system.emulator.bot(TOKEN).messages] == [GROUP["id"]]
    assert not system.emulator.bot(TOKEN).calls_of("refundStarPayment")


async def test_group_commands_answer_in_the_senders_language(system: System) -> None:
    system.say(BORIS, "/balance@" + PRIVATE_CHAT_BUTTON["url"].rsplit("/", 1)[1], chat=GROUP)
    [reply] = await system.emulator.wait_for_message(TOKEN, GROUP["id"])
    assert reply["text"].startswith("Платежи — дело личное")


async def test_start_in_a_group_carries_no_mini_app_button(
    db: str, emulator: BotApiEmulator, aiohttp_client: Any
) -> None:
    """Telegram refuses web_app buttons outside private chats."""
    system, stop, task = await start_system(
        aiohttp_client, emulator, webapp_url="https://app.example.org/"
    )
    try:
        system.say(ALICE, "/start", chat=GROUP)
        [reply] = await emulator.wait_for_message(TOKEN, GROUP["id"])
        assert reply["text"].startswith(START["en"])
        assert reply["reply_markup"]["inline_keyboard"] == [[PRIVATE_CHAT_BUTTON]]
        system.say(ALICE, "/privacy", chat=GROUP)  # nothing private about these
        replies = await emulator.wait_for_message(TOKEN, GROUP["id"], 2)
        assert replies[1]["text"].startswith(PRIVACY["en"])
    finally:
        stop.set()
        await task


async def test_paysupport_is_passed_on_once_per_user_in_a_while(system: System) -> None:
    system.say(ALICE, "/paysupport first")
    [first] = await system.replies(ALICE)
    assert "Your request has been passed to our support team." in first
    system.say(ALICE, "/paysupport second")
    second = (await system.replies(ALICE, 2))[1]
    assert second.startswith("Payment support")  # still shows the payments
    assert "Our support team already has your request from a few minutes ago." in second
    assert "You can send another one in 5 min." in second
    system.say(BORIS, "/paysupport третий")
    [other] = await system.replies(BORIS)
    assert "Ваш запрос передан в поддержку." in other
    await system.settle()
    forwarded = [m["text"] for m in system.emulator.messages_to(TOKEN, ADMIN["id"])]
    assert len(forwarded) == 2
    assert "first" in forwarded[0]
    assert "третий" in forwarded[1]


async def test_a_long_paysupport_request_is_cut_to_fit_one_message(system: System) -> None:
    request = "My payment went missing. " + "😀" * 3000  # 6,000 UTF-16 units of emoji
    system.say(ALICE, f"/paysupport {request}")
    [reply] = await system.replies(ALICE)
    assert "Your request has been passed to our support team." in reply
    [forwarded] = await system.replies(ADMIN)
    assert len(forwarded.encode("utf-16-le")) // 2 <= 4096
    assert "My payment went missing. 😀😀" in forwarded
    assert "… (cut to fit one message)" in forwarded
    assert forwarded.endswith("We have no payments from you yet.")  # the payments survive


async def test_paysupport_says_so_when_no_admin_got_the_request(system: System) -> None:
    system.emulator.set_fault("sendMessage", Fault("error", status=403, times=1))
    system.say(ALICE, "/paysupport help")
    [reply] = await system.replies(ALICE)
    assert "We could not pass your request on to our support team just now." in reply
    assert "passed to our support team" not in reply
    assert system.emulator.messages_to(TOKEN, ADMIN["id"]) == []
    # Nothing reached anyone, so the user may try again at once.
    system.say(ALICE, "/paysupport help")
    assert "Your request has been passed" in (await system.replies(ALICE, 2))[1]
    assert len(await system.replies(ADMIN)) == 1


async def test_paysupport_without_admins_points_to_the_contact(
    db: str, emulator: BotApiEmulator, aiohttp_client: Any
) -> None:
    system, stop, task = await start_system(
        aiohttp_client, emulator, admin_ids=[], support_contact="@stars_support"
    )
    try:
        system.say(BORIS, "/paysupport help")
        [reply] = await system.replies(BORIS)
        assert "Не удалось передать ваш запрос в поддержку." in reply
        assert "напишите @stars_support" in reply
    finally:
        stop.set()
        await task
