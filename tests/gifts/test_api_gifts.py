"""Gifts and Premium over HTTP against the real aiohttp server and the emulator, with
the leading worker's sender running, on SQLite and PostgreSQL (and PgBouncer where
it is cheap): one gift per key, never past the balance or the bot's own Stars, the
catalog served stale when Telegram is away, and unknown outcomes settled."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from api.app import create_app
from bot.gifts import GiftSender
from models.events.outbox import switch_events
from models.infra.telegram import make_bot
from models.kinds import EntryKind, GiftState
from models.ledger.entries import apply_entry
from models.queries.accounts import get_balance
from models.tables import Event, Gift, LedgerEntry
from models.users import upsert_user
from models.values import Profile
from tests.api.test_openapi import answer_fits
from tests.databases import through_pgbouncer
from tests.emulator import BotApiEmulator
from tests.emulator.server import Fault
from tests.helpers import ALICE, TOKEN, ApiClient, make_settings, tma

pytestmark = pytest.mark.usefixtures("ledger_holds")
KEY = "svc_" + "g" * 40
AUTH = {"Authorization": f"Bearer {KEY}"}
TEDDY, SOLD_OUT = "5170233102089322756", "5168043875654172773"
ALICE_ID = ALICE["id"]


def key(value: str) -> dict[str, str]:
    return {**AUTH, "Idempotency-Key": value}


@pytest.fixture
async def sender(db: str, emulator: BotApiEmulator) -> AsyncIterator[GiftSender]:
    """The leading worker's gift sender, running (calls last at most a second)."""
    bot = make_bot(make_settings(telegram_api_url=emulator.url))
    gifts = GiftSender(
        bot, window=timedelta(seconds=2), call_timeout=1, margin=0, settle_every=0.2
    )
    task = asyncio.create_task(gifts.run())
    yield gifts
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await bot.session.close()


@pytest.fixture
async def api(db: str, emulator: BotApiEmulator, aiohttp_client: Any) -> Any:
    async def factory(**overrides: Any) -> ApiClient:
        settings = make_settings(
            telegram_api_url=emulator.url,
            service_api_keys=KEY,
            **{"gift_answer_wait": 5, **overrides},
        )
        client: ApiClient = await aiohttp_client(create_app(settings, init_orm=False))
        return client

    return factory


async def funded(stars: int) -> None:
    await upsert_user(Profile(ALICE_ID, first_name="Alice"))
    await apply_entry(ALICE_ID, stars, EntryKind.DEV_CREDIT, note="test")


async def settled(count: int, deadline: float = 30.0) -> None:
    """Wait until no purchase is pending and `count` exist (the sender is running)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if (
            await Gift.all().count() == count
            and not await Gift.filter(state=GiftState.PENDING).exists()
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(await Gift.all().values("state", "failure_reason"))


async def test_the_catalog_lists_gifts_and_the_premium_offers_and_goes_stale_not_away(
    api: Any, emulator: BotApiEmulator
) -> None:
    client = await api(gift_catalog_ttl=1)
    first = await (await client.get("/service/gifts", headers=AUTH)).json()
    teddy = next(g for g in first["gifts"] if g["id"] == TEDDY)
    assert teddy["star_count"] == 15
    assert teddy["emoji"] == "🧸"
    assert teddy["upgrade_star_count"] == 25
    assert [g["sold_out"] for g in first["gifts"] if g["id"] == SOLD_OUT] == [True]
    assert first["premium"] == [
        {"months": 3, "star_count": 1000},
        {"months": 6, "star_count": 1500},
        {"months": 12, "star_count": 2500},
    ]
    assert first["stale"] is False
    emulator.set_fault("getAvailableGifts", Fault("error", status=502))
    await asyncio.sleep(1.1)
    for _ in range(3):  # each read starts a refresh that fails; the old one is served
        later = await client.get("/service/gifts", headers=AUTH)
        assert later.status == 200
        body = await later.json()
        assert body["gifts"] == first["gifts"]
        assert body["stale"] is True
        assert body["age_seconds"] >= 1
    mini_app = await client.get("/gifts", headers=tma(ALICE))
    assert mini_app.status == 200
    assert (await client.get("/gifts")).status == 401


async def test_a_gift_is_sent_within_the_request_and_replayed_by_its_key(
    api: Any, sender: GiftSender, emulator: BotApiEmulator
) -> None:
    emulator.set_star_balance(TOKEN, 5000)
    await funded(100)
    await switch_events(True)
    client = await api()
    body = {"gift_id": TEDDY, "to": {"user_id": 7}, "text": "Happy birthday"}
    answer = await client.post(f"/service/users/{ALICE_ID}/gifts", json=body, headers=key("o1"))
    assert answer.status == 201
    sent = await answer.json()
    assert sent["state"] == "sent"
    assert sent["star_count"] == 15
    assert sent["to"] == {"user_id": 7}
    again = await client.post(f"/service/users/{ALICE_ID}/gifts", json=body, headers=key("o1"))
    assert again.status == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await again.json())["id"] == sent["id"]
    read = await (await client.get(f"/service/gifts/{sent['id']}", headers=AUTH)).json()
    assert read["state"] == "sent"
    spec = await (await client.get("/openapi.json")).json()
    for path, template in (
        ("/service/gifts", "/service/gifts"),
        (f"/service/gifts/{sent['id']}", "/service/gifts/{gift_id}"),
    ):
        await answer_fits(client, spec, template, "get", await client.get(path, headers=AUTH))
    await answer_fits(
        client,
        spec,
        "/service/users/{telegram_id}/gifts",
        "post",
        await client.post(f"/service/users/{ALICE_ID}/gifts", json=body, headers=key("o1")),
    )
    assert await get_balance(ALICE_ID) == 85
    assert len(emulator.bot(TOKEN).purchases) == 1
    types = set(await Event.all().values_list("type", flat=True))
    assert {"gift.created", "gift.sent"} <= types
    premium = await client.post(
        f"/service/users/{ALICE_ID}/premium",
        json={"to_user_id": 7, "months": 3},
        headers=key("p1"),
    )
    assert premium.status == 422  # 85 Stars do not buy 1000
    assert (await premium.json())["error"]["code"] == "insufficient_balance"


@through_pgbouncer
async def test_fifty_concurrent_requests_with_one_key_send_one_gift(
    api: Any, sender: GiftSender, emulator: BotApiEmulator
) -> None:
    emulator.set_star_balance(TOKEN, 1000)
    await funded(100)
    client = await api(gift_answer_wait=0)
    body = {"gift_id": TEDDY, "to": {"user_id": 7}}
    answers = await asyncio.gather(
        *(
            client.post(f"/service/users/{ALICE_ID}/gifts", json=body, headers=key("one"))
            for _ in range(50)
        )
    )
    assert {a.status for a in answers} <= {201, 202}
    assert len({(await a.json())["id"] for a in answers}) == 1
    await settled(1)
    assert len(emulator.bot(TOKEN).calls_of("sendGift")) == 1
    assert await get_balance(ALICE_ID) == 85


@through_pgbouncer
async def test_a_hundred_concurrent_gifts_against_a_balance_for_forty_send_forty(
    api: Any, sender: GiftSender, emulator: BotApiEmulator
) -> None:
    emulator.set_star_balance(TOKEN, 10_000)
    await funded(40 * 15)
    client = await api(gift_answer_wait=0)
    body = {"gift_id": TEDDY, "to": {"user_id": 7}}
    answers = await asyncio.gather(
        *(
            client.post(f"/service/users/{ALICE_ID}/gifts", json=body, headers=key(f"k{n}"))
            for n in range(100)
        )
    )
    statuses = [a.status for a in answers]
    assert sum(s in (201, 202) for s in statuses) == 40
    assert statuses.count(422) == 60  # insufficient_balance
    await settled(40)
    assert await Gift.filter(state=GiftState.SENT).count() == 40
    assert len(emulator.bot(TOKEN).purchases) == 40
    assert await get_balance(ALICE_ID) == 0


async def test_a_sold_out_gift_and_a_low_bot_balance_refuse_with_nothing_lost(
    api: Any, emulator: BotApiEmulator
) -> None:
    emulator.set_star_balance(TOKEN, 10)
    await funded(100)
    client = await api()
    path = f"/service/users/{ALICE_ID}/gifts"
    sold_out = await client.post(
        path, json={"gift_id": SOLD_OUT, "to": {"user_id": 7}}, headers=key("a")
    )
    assert sold_out.status == 409
    assert (await sold_out.json())["error"]["code"] == "gift_sold_out"
    low = await client.post(path, json={"gift_id": TEDDY, "to": {"user_id": 7}}, headers=key("b"))
    assert low.status == 503
    assert (await low.json())["error"]["code"] == "bot_balance_low"
    assert int(low.headers["Retry-After"]) > 0
    changed = await client.post(
        path,
        json={"gift_id": TEDDY, "to": {"user_id": 7}, "expected_star_count": 10},
        headers=key("c"),
    )
    assert changed.status == 409
    assert (await changed.json())["error"] == {
        "code": "price_changed",
        "message": "The gift costs 15 Stars now.",
        "star_count": 15,
    }
    for bad, code in (
        ({"gift_id": TEDDY, "to": {"user_id": "7"}}, "invalid_recipient"),
        ({"gift_id": TEDDY, "to": {"user_id": 7}, "text": "x" * 129}, "invalid_text"),
        ({"gift_id": "1", "to": {"user_id": 7}}, "unknown_gift"),
        ({"gift_id": TEDDY, "to": {"user_id": 7}, "pay_for_upgrade": "yes"}, "invalid_body"),
        ({"gift_id": TEDDY, "to": {"user_id": 7}, "expected_star_count": "15"}, "invalid_body"),
    ):
        refused = await client.post(path, json=bad, headers=key("d"))
        assert (await refused.json())["error"]["code"] == code
    assert (await client.post(path, json={}, headers=AUTH)).status == 400
    assert await get_balance(ALICE_ID) == 100
    assert await Gift.all().count() == 0
    unknown = await client.get("/service/gifts/not-a-uuid", headers=AUTH)
    assert unknown.status == 404


async def test_a_lost_answer_answers_202_and_settles_sent_with_one_debit(
    api: Any, sender: GiftSender, emulator: BotApiEmulator
) -> None:
    emulator.set_star_balance(TOKEN, 1000)
    emulator.set_fault("sendGift", Fault("error_after", status=502, times=1))
    await funded(100)
    client = await api(gift_answer_wait=0.5)
    answer = await client.post(
        f"/service/users/{ALICE_ID}/gifts",
        json={"gift_id": TEDDY, "to": {"user_id": 7}},
        headers=key("lost"),
    )
    assert answer.status == 202
    assert (await answer.json())["state"] == "pending"
    await settled(1)
    assert await Gift.filter(state=GiftState.SENT).count() == 1
    assert await LedgerEntry.filter(kind=EntryKind.GIFT).count() == 1
    assert await get_balance(ALICE_ID) == 85


async def test_a_lost_request_settles_failed_with_the_stars_back(
    api: Any, sender: GiftSender, emulator: BotApiEmulator
) -> None:
    emulator.set_star_balance(TOKEN, 1000)
    emulator.set_fault("sendGift", Fault("error", status=500, times=1))
    await funded(100)
    client = await api(gift_answer_wait=0)
    answer = await client.post(
        f"/service/users/{ALICE_ID}/gifts",
        json={"gift_id": TEDDY, "to": {"user_id": 7}},
        headers=key("gone"),
    )
    gift_id = (await answer.json())["id"]
    await settled(1)
    read = await (await client.get(f"/service/gifts/{gift_id}", headers=AUTH)).json()
    assert read["state"] == "failed"
    assert "ledger" in read["failure_reason"]
    assert await get_balance(ALICE_ID) == 100
    assert emulator.bot(TOKEN).purchases == []


async def test_gift_keys_follow_the_shared_idempotency_key_rules(
    api: Any, emulator: BotApiEmulator
) -> None:
    emulator.set_star_balance(TOKEN, 5000)
    await funded(100)
    client = await api(gift_answer_wait=0)  # no sender running: each answer is 202
    path = f"/service/users/{ALICE_ID}/gifts"
    body = {"gift_id": TEDDY, "to": {"user_id": 7}}
    first = await client.post(path, json=body, headers=key("order-8812"))
    assert first.status == 202
    # The draft's quoted form spells the same key as the bare one.
    quoted = await client.post(path, json=body, headers=key('"order-8812"'))
    assert quoted.headers["Idempotent-Replayed"] == "true"
    assert (await quoted.json())["id"] == (await first.json())["id"]
    # Sent twice, the header cannot say which key was meant.
    twice = await client.post(
        path,
        json=body,
        headers=[*AUTH.items(), ("Idempotency-Key", "a"), ("Idempotency-Key", "b")],
    )
    assert twice.status == 400
    assert (await twice.json())["error"]["code"] == "duplicate_idempotency_key"
    unclosed = await client.post(path, json=body, headers=key('"order-8813'))
    assert unclosed.status == 400
    assert (await unclosed.json())["error"]["code"] == "invalid_idempotency_key"
    mini_app = await client.post(
        "/gifts",
        json={"gift_id": TEDDY},
        headers=[*tma(ALICE).items(), ("Idempotency-Key", "x"), ("Idempotency-Key", "y")],
    )
    assert mini_app.status == 400
    assert (await mini_app.json())["error"]["code"] == "duplicate_idempotency_key"
    assert await Gift.all().count() == 1
    assert await get_balance(ALICE_ID) == 100 - 15


async def test_the_mini_apps_keys_cannot_take_a_backends_key(
    api: Any, emulator: BotApiEmulator
) -> None:
    emulator.set_star_balance(TOKEN, 5000)
    await funded(100)
    client = await api(gift_answer_wait=0)
    # A Mini App user sends the key the app's backend is about to use for an order.
    taken = await client.post(
        "/gifts", json={"gift_id": TEDDY}, headers={**tma(ALICE), "Idempotency-Key": "order-8813"}
    )
    assert taken.status == 202
    own = await taken.json()
    assert own["idempotency_key"] == "order-8813"  # as the Mini App sent it
    again = await client.post(
        "/gifts",
        json={"gift_id": TEDDY},
        headers={**tma(ALICE), "Idempotency-Key": '"order-8813"'},
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await again.json())["id"] == own["id"]
    # The backend's purchase with that key is its own, not the Mini App's replayed.
    backend = await client.post(
        f"/service/users/{ALICE_ID}/gifts",
        json={"gift_id": TEDDY, "to": {"user_id": 7}},
        headers=key("order-8813"),
    )
    assert backend.status == 202
    assert "Idempotent-Replayed" not in backend.headers
    assert (await backend.json())["id"] != own["id"]
    # Nor can a backend key reach into the Mini App's namespace.
    stored = await Gift.get(id=own["id"])
    reach = await client.post(
        f"/service/users/{ALICE_ID}/gifts",
        json={"gift_id": TEDDY, "to": {"user_id": ALICE_ID}},
        headers=key(stored.idempotency_key),
    )
    assert reach.status == 400
    assert (await reach.json())["error"]["code"] == "invalid_idempotency_key"
    assert await get_balance(ALICE_ID) == 100 - 2 * 15
