"""The Bot API emulator speaks Telegram's wire format, so tests against it mean something."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.emulator import BotApiEmulator, Fault, running_emulator
from tests.helpers import ALICE, TOKEN


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http: aiohttp.ClientSession, emulator: BotApiEmulator, method: str, **kw):  # type: ignore[no-untyped-def]
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


async def test_unknown_token_and_method(emulator, http) -> None:  # type: ignore[no-untyped-def]
    async with http.post(f"{emulator.url}/botnot-a-token/getMe") as response:
        assert response.status == 401
    status, body = await call(http, emulator, "noSuchMethod")
    assert (status, body["description"]) == (404, "Not Found: method not found")


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
    emulator, http
) -> None:  # type: ignore[no-untyped-def]
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
