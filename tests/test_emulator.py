"""The Bot API emulator speaks Telegram's wire format, so tests against it mean something."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.emulator import BotApiEmulator, ChatFault, Fault, running_emulator
from tests.helpers import ALICE, OTHER_TOKEN, TOKEN


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, emulator: BotApiEmulator, method: str, **kw: Any
) -> tuple[int, Any]:
    async with http.post(f"{emulator.url}/bot{TOKEN}/{method}", **kw) as response:
        return response.status, await response.json()


PRICES = json.dumps([{"label": "x", "amount": 5}])
INVOICE = {"title": "t", "description": "d", "payload": "p", "currency": "XTR", "prices": PRICES}


async def test_json_form_and_multipart_bodies_are_understood(emulator, http) -> None:  # type: ignore[no-untyped-def]
    json_body = {**INVOICE, "prices": json.loads(PRICES)}
    assert (await call(http, emulator, "createInvoiceLink", json=json_body))[0] == 200
    assert (await call(http, emulator, "createInvoiceLink", data=INVOICE))[0] == 200
    form = aiohttp.FormData()
    for key, value in INVOICE.items():
        form.add_field(key, value)
    form.add_field("photo", b"binary", filename="p.png")  # forces multipart
    status, body = await call(http, emulator, "createInvoiceLink", data=form)
    assert status == 200
    assert body["result"].startswith("https://t.me/$")


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"currency": "USD"}, "Bad Request: PAYMENT_PROVIDER_INVALID"),
        (
            {"prices": json.dumps([{"label": "a", "amount": 1}] * 2)},
            "Bad Request: STARS_INVOICE_INVALID",
        ),
        ({"provider_token": "tok"}, "Bad Request: STARS_INVOICE_INVALID"),
        (
            {"prices": json.dumps([{"label": "a", "amount": 0}])},
            "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID",
        ),
        ({"payload": "x" * 129}, "Bad Request: INVOICE_PAYLOAD_INVALID"),
        ({"title": "x" * 33}, "Bad Request: invoice title length must be 1-32 characters"),
    ],
)
async def test_stars_invoice_rules_give_telegrams_errors(emulator, http, change, error) -> None:  # type: ignore[no-untyped-def]
    status, body = await call(http, emulator, "createInvoiceLink", data={**INVOICE, **change})
    assert (status, body) == (400, {"ok": False, "error_code": 400, "description": error})


@pytest.mark.parametrize(
    ("token", "description"),
    [
        (OTHER_TOKEN.replace("654321", "777777"), "Unauthorized"),  # shaped right, unknown
        ("not-a-token", "Unauthorized: invalid token specified"),
        ("0123:AAGotAnotherBotTokenForTheTests0123", "Unauthorized: invalid token specified"),
    ],
)
async def test_an_unknown_token_is_unauthorized_for_every_method(
    emulator: BotApiEmulator, http: aiohttp.ClientSession, token: str, description: str
) -> None:
    for method in ("getMe", "getUpdates", "sendMessage"):
        async with http.post(f"{emulator.url}/bot{token}/{method}") as response:
            assert response.status == 401
            assert await response.json() == {
                "ok": False,
                "error_code": 401,
                "description": description,
            }
    assert emulator.bots.keys() <= {TOKEN, OTHER_TOKEN}  # nothing was made up for it


async def test_the_sandbox_token_and_added_tokens_are_known(http: aiohttp.ClientSession) -> None:
    sandbox = "42424242:AAHsandboxTokenGivenOnTheCommandLine0"
    async with running_emulator(sandbox_token=sandbox) as emulator:
        async with http.post(f"{emulator.url}/bot{sandbox}/getMe") as response:
            assert response.status == 200
        added = "43434343:AAHanotherTokenTheOperatorAddedLater0"
        async with http.post(f"{emulator.url}/bot{added}/getMe") as response:
            assert response.status == 401
        emulator.add_token(added)
        async with http.post(f"{emulator.url}/bot{added}/getMe") as response:
            assert (await response.json())["result"]["id"] == 43434343


async def test_an_unknown_method(emulator: BotApiEmulator, http: aiohttp.ClientSession) -> None:
    status, body = await call(http, emulator, "noSuchMethod")
    assert (status, body["description"]) == (404, "Not Found: method not found")


@pytest.mark.parametrize(
    ("method", "data", "description"),
    [
        # The real server lowers the first letter of its own texts (Client.cpp,
        # fail_query_with_error) unless the second is upper case or "_".
        ("createInvoiceLink", {**INVOICE, "title": ""}, 'parameter "title" is required'),
        ("createInvoiceLink", {**INVOICE, "prices": "[{"}, "can't parse prices JSON object"),
        (
            "answerPreCheckoutQuery",
            {"pre_checkout_query_id": "1", "ok": "false"},
            'parameter "error_message" is required',
        ),
        (
            "answerPreCheckoutQuery",
            {"pre_checkout_query_id": "not-a-number", "ok": "true"},
            "query is too old and response timeout expired or query ID is invalid",
        ),
        ("refundStarPayment", {"user_id": "abc"}, "invalid user_id specified"),
        (
            "refundStarPayment",
            {"user_id": "7"},
            'parameter "telegram_payment_charge_id" is required',
        ),
        ("sendMessage", {"text": "hi"}, "chat_id is empty"),
        ("sendMessage", {"chat_id": "@nobody", "text": "hi"}, "chat not found"),
        ("sendMessage", {"chat_id": "7"}, "message text is empty"),
        (
            "sendMessage",
            {"chat_id": "7", "text": "hi", "reply_markup": "{"},
            "can't parse reply keyboard markup JSON object",
        ),
    ],
)
async def test_error_texts_are_the_real_servers(
    emulator: BotApiEmulator,
    http: aiohttp.ClientSession,
    method: str,
    data: dict[str, str],
    description: str,
) -> None:
    status, body = await call(http, emulator, method, data=data)
    assert (status, body) == (
        400,
        {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"},
    )


async def test_numbers_are_read_as_the_real_server_reads_them(
    emulator: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    """td::to_integer: the leading digits, 0 when there are none; limits are clamped."""
    emulator.bot(TOKEN).transactions = [{"id": str(i), "amount": 1, "date": i} for i in range(3)]
    _, body = await call(
        http, emulator, "getStarTransactions", data={"offset": "1x", "limit": "z"}
    )
    assert [t["id"] for t in body["result"]["transactions"]] == ["1"]  # limit 0, clamped to 1


async def test_pre_checkout_query_ids_are_64_bit_integers(emulator: BotApiEmulator) -> None:
    link = emulator.add_invoice(TOKEN, "order-1", 100)
    checkouts = [
        asyncio.create_task(emulator.checkout(link, ALICE, deadline=0.1)) for _ in range(20)
    ]
    await asyncio.gather(*checkouts)
    ids = [u["pre_checkout_query"]["id"] for u in emulator.bot(TOKEN).updates]
    assert len(set(ids)) == 20
    for query_id in ids:
        assert str(int(query_id)) == query_id
        assert -(2**63) <= int(query_id) < 2**63
    assert max(len(query_id.lstrip("-")) for query_id in ids) >= 15  # random, not a counter


async def test_messages_to_a_chat_fail_as_the_real_server_says_and_others_still_go(
    emulator: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    emulator.set_chat_fault(TOKEN, 101, ChatFault("blocked"))
    emulator.set_chat_fault(TOKEN, 102, ChatFault("not_found"))
    emulator.set_chat_fault(TOKEN, 103, ChatFault("flood", retry_after=1))

    async def send(chat_id: int) -> tuple[int, dict[str, Any]]:
        return await call(
            http, emulator, "sendMessage", data={"chat_id": str(chat_id), "text": "hi"}
        )

    assert await send(101) == (
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )
    assert await send(102) == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
    )
    flooded = time.monotonic()
    assert await send(103) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        },
    )
    assert (await send(104))[0] == 200  # another chat is not affected
    assert (await send(103))[0] == 429  # still within the wait
    while time.monotonic() - flooded < 1.05:
        await asyncio.sleep(0.05)
    assert (await send(103))[0] == 200  # after it, the message goes
    assert (await send(101))[0] == 403  # a block lasts until the user unblocks
    assert [m["chat"]["id"] for m in emulator.bot(TOKEN).messages] == [104, 103]
    emulator.clear_faults()
    assert (await send(101))[0] == 200


async def test_chat_faults_are_set_over_http_too(
    emulator: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{emulator.url}/_emulator/chat-fault",
        json={"chat_id": 101, "kind": "flood", "retry_after": 30},
    ) as response:
        assert response.status == 200
    status, body = await call(http, emulator, "sendMessage", data={"chat_id": "101", "text": "x"})
    assert (status, body["parameters"]) == (429, {"retry_after": 30})
    async with http.delete(f"{emulator.url}/_emulator/fault") as response:
        assert response.status == 200
    assert (await call(http, emulator, "sendMessage", data={"chat_id": "101", "text": "x"}))[
        0
    ] == 200


async def test_a_second_poller_ends_the_first_with_409(emulator, http) -> None:  # type: ignore[no-untyped-def]
    first = asyncio.create_task(call(http, emulator, "getUpdates", data={"timeout": "5"}))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(call(http, emulator, "getUpdates", data={"timeout": "1"}))
    status, body = await first
    assert status == 409
    assert body["description"].startswith("Conflict: terminated by other getUpdates request")
    assert (await second)[0] == 200


async def test_polls_are_recorded_by_door_and_a_poll_whose_caller_hung_up_hands_out_nothing(
    emulator: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    async def poll(door: str, timeout: str) -> int:
        url = f"{emulator.door_url(door)}/bot{TOKEN}/getUpdates"
        async with http.post(url, data={"timeout": timeout}) as response:
            return response.status

    assert await poll("a", "0") == 200
    hung_up = asyncio.create_task(poll("b", "5"))
    await asyncio.sleep(0.3)
    hung_up.cancel()  # the client closes its connection mid-poll
    await asyncio.sleep(0.3)
    emulator.send_text(TOKEN, ALICE, "/start")
    await asyncio.sleep(0.3)
    first, second = emulator.bot(TOKEN).polls
    assert (first.door, first.outcome) == ("a", "answered")
    assert (second.door, second.outcome, second.updates) == ("b", "abandoned", 0)
    assert second.ended is not None
    assert second.ended - second.started < 1
    assert emulator.bot(TOKEN).updates  # still waiting for a poller


async def test_updates_are_confirmed_by_offset_and_filtered_by_allowed_updates(
    emulator: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    emulator.send_text(TOKEN, ALICE, "/one")
    _, body = await call(http, emulator, "getUpdates", data={"allowed_updates": '["message"]'})
    [update] = body["result"]
    _, again = await call(http, emulator, "getUpdates", data={})
    assert again["result"] == [update]  # not confirmed yet
    _, after = await call(
        http, emulator, "getUpdates", data={"offset": str(update["update_id"] + 1)}
    )
    assert after["result"] == []
    emulator.push_update(emulator.bot(TOKEN), "pre_checkout_query", {"id": "q"})
    assert emulator.bot(TOKEN).dropped[-1]["pre_checkout_query"] == {"id": "q"}


async def test_faults_answer_like_telegram(emulator, http) -> None:  # type: ignore[no-untyped-def]
    emulator.set_fault("getMe", Fault("retry_after", retry_after=3, times=1))
    status, body = await call(http, emulator, "getMe")
    assert (status, body["parameters"]) == (429, {"retry_after": 3})
    assert body["description"] == "Too Many Requests: retry after 3"
    assert (await call(http, emulator, "getMe"))[0] == 200


async def test_star_transactions_come_in_the_chosen_order(http) -> None:  # type: ignore[no-untyped-def]
    for order in ("asc", "desc"):
        async with running_emulator(transactions_order=order) as emulator:
            state = emulator.bot(TOKEN)
            state.transactions = [{"id": str(i), "amount": 1, "date": i} for i in range(1, 151)]
            _, body = await call(
                http, emulator, "getStarTransactions", data={"offset": "0", "limit": "500"}
            )
            ids = [t["id"] for t in body["result"]["transactions"]]
            assert len(ids) == 100
            assert ids[0] == ("1" if order == "asc" else "150")


async def test_a_far_telegram_answers_every_method_late_but_the_long_poll(http) -> None:  # type: ignore[no-untyped-def]
    async with running_emulator(latency=0.3, jitter=0) as emulator:
        started = time.monotonic()
        status, body = await call(
            http, emulator, "sendMessage", data={"chat_id": "7", "text": "hi"}
        )
        assert (status, body["ok"]) == (200, True)
        assert time.monotonic() - started >= 0.3
        emulator.set_latency(60)  # a poll that paid it would outlast the wait below
        emulator.send_text(TOKEN, ALICE, "/start")
        status, body = await asyncio.wait_for(
            call(http, emulator, "getUpdates", data={"timeout": "0"}), 10
        )
        assert [u["message"]["text"] for u in body["result"]] == ["/start"]


async def test_sales_are_labelled_as_the_real_server_labels_them(
    emulator: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    """`invoice_payment` when Telegram sent the product information, else a paid-media
    sale with no media and the payload in `paid_media_payload`; refunds likewise."""
    link = emulator.add_invoice(TOKEN, "order-1", 5)
    invoice = emulator.charge(link, ALICE, deliver=False)
    async with http.post(
        f"{emulator.url}/_emulator/sale-label", json={"label": "paid_media_payment"}
    ) as response:
        assert response.status == 200
    unlabelled = emulator.charge(link, ALICE, deliver=False)
    emulator.refund_elsewhere(TOKEN, invoice)  # labelled as sales are now
    emulator.refund_elsewhere(TOKEN, unlabelled, label="invoice_payment")
    _, body = await call(http, emulator, "getStarTransactions")
    rows = [
        (t["id"], "source" in t, t.get("source") or t["receiver"])
        for t in body["result"]["transactions"]
    ]
    user = {"is_bot": False, "first_name": "User", **ALICE}
    paid_media = {
        "type": "user",
        "transaction_type": "paid_media_payment",
        "user": user,
        "paid_media": [],
        "paid_media_payload": "order-1",
    }
    invoiced = {
        "type": "user",
        "transaction_type": "invoice_payment",
        "user": user,
        "invoice_payload": "order-1",
    }
    assert rows == [
        (invoice, True, invoiced),
        (unlabelled, True, paid_media),
        (invoice, False, paid_media),
        (unlabelled, False, invoiced),
    ]
    async with http.post(f"{emulator.url}/_emulator/sale-label", json={"label": "x"}) as response:
        assert response.status == 400


async def test_a_message_update_a_day_old_is_never_delivered(
    emulator: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    """Telegram keeps a message update for a day after the message's date."""
    day = 86_400
    link = emulator.add_invoice(TOKEN, "order-1", 5)
    waiting = emulator.charge(link, ALICE)  # nobody polls for a day
    old = emulator.charge(link, ALICE, date=int(time.time()) - day - 60)  # dated a day back
    state = emulator.bot(TOKEN)
    assert [
        u["message"]["successful_payment"]["telegram_payment_charge_id"] for u in state.expired
    ] == [old]
    async with http.post(f"{emulator.url}/_emulator/clock", json={"advance": day}) as response:
        assert response.status == 200
    emulator.send_text(TOKEN, ALICE, "/start")  # written a day later: still fresh
    _, body = await call(http, emulator, "getUpdates")
    assert [u["message"].get("text") for u in body["result"]] == ["/start"]
    assert [
        u["message"]["successful_payment"]["telegram_payment_charge_id"] for u in state.expired
    ] == [old, waiting]
    # Telegram's ledger keeps both: only reconciliation can find them now.
    _, body = await call(http, emulator, "getStarTransactions")
    assert [t["id"] for t in body["result"]["transactions"]] == [old, waiting]
