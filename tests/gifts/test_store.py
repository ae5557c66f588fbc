"""Gift purchases in the database, on SQLite and PostgreSQL: one debit and one
purchase per key, never below zero, nothing debited past the bot's own Stars, one
claim per attempt, and each end (sent, or failed with the Stars back) once."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from models.events.delivery import event_body
from models.events.outbox import switch_events
from models.gifts.rules import Item, Recipient
from models.gifts.store import (
    GiftRequest,
    buy,
    claim_due,
    fail,
    flood_wait,
    get_gift,
    mark_sent,
    pending_stars,
)
from models.kinds import EntryKind, GiftKind, GiftState
from models.ledger.entries import apply_entry
from models.queries.accounts import get_balance
from models.queries.invariants import check_ledger
from models.refusals import Refusal, Refused
from models.tables import Event, Gift, LedgerEntry
from models.users import upsert_user
from models.values import Profile, utcnow
from tests.databases import through_pgbouncer
from tests.models.buyers import ALICE

pytestmark = pytest.mark.usefixtures("ledger_holds")
TEDDY = Item(GiftKind.GIFT, "5170233102089322756")


async def funded(user: Profile, stars: int) -> None:
    await upsert_user(user)
    await apply_entry(user.id, stars, EntryKind.DEV_CREDIT, note="test")


def request(key: str, stars: int = 15, **changes: object) -> GiftRequest:
    fields: dict[str, object] = {
        "user_id": ALICE.id,
        "item": TEDDY,
        "to": Recipient(user_id=7),
        "star_count": stars,
        "idempotency_key": key,
    }
    fields.update(changes)
    return GiftRequest(**fields)  # type: ignore[arg-type]


async def test_a_purchase_debits_once_and_waits_in_the_outbox(db: str) -> None:
    await funded(ALICE, 100)
    bought = await buy(request("k1"))
    assert not bought.replayed
    assert bought.stars_balance == 85
    assert bought.gift.state is GiftState.PENDING
    entries = await LedgerEntry.filter(gift_id=bought.gift.id).values_list("kind", "amount")
    assert entries == [("gift", -15)]
    again = await buy(request("k1"))
    assert again.replayed
    assert again.gift.id == bought.gift.id
    assert await get_balance(ALICE.id) == 85
    with pytest.raises(Refused) as refused:
        await buy(request("k1", text="other"))
    assert refused.value.code is Refusal.IDEMPOTENCY_KEY_REUSED


@through_pgbouncer
async def test_fifty_concurrent_requests_with_one_key_make_one_purchase(db: str) -> None:
    await funded(ALICE, 1000)
    results = await asyncio.gather(*(buy(request("one-key")) for _ in range(50)))
    assert len({r.gift.id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert await Gift.all().count() == 1
    assert await get_balance(ALICE.id) == 985


@through_pgbouncer
async def test_a_hundred_concurrent_purchases_against_forty_of_balance_make_forty(
    db: str,
) -> None:
    await funded(ALICE, 40 * 15)

    async def attempt(n: int) -> str:
        try:
            await buy(request(f"k{n}"))
        except Refused as refused:
            return refused.code.value
        return "bought"

    outcomes = await asyncio.gather(*(attempt(n) for n in range(100)))
    assert outcomes.count("bought") == 40
    assert outcomes.count("insufficient_balance") == 60
    assert await Gift.all().count() == 40
    assert await get_balance(ALICE.id) == 0


async def test_the_bot_s_own_stars_less_what_is_pending_must_cover_it(db: str) -> None:
    await funded(ALICE, 100)
    await buy(request("k1"), bot_balance=30)
    assert await pending_stars() == 15
    with pytest.raises(Refused) as refused:
        await buy(request("k2", stars=16), bot_balance=30)
    assert refused.value.code is Refusal.BOT_BALANCE_LOW
    assert refused.value.facts["retry_after"] > 0
    assert await get_balance(ALICE.id) == 85
    # A retry of an accepted purchase is answered, whatever the bot holds now.
    assert (await buy(request("k1"), bot_balance=0)).replayed


async def test_not_enough_stars_and_unknown_users_record_nothing(db: str) -> None:
    await funded(ALICE, 10)
    for req, code in (
        (request("k1"), Refusal.INSUFFICIENT_BALANCE),
        (request("k2", user_id=999), Refusal.USER_NOT_FOUND),
    ):
        with pytest.raises(Refused) as refused:
            await buy(req)
        assert refused.value.code is code
    assert await Gift.all().count() == 0


async def test_an_attempt_is_claimed_once_and_only_a_flood_wait_gives_it_back(db: str) -> None:
    await funded(ALICE, 100)
    bought = await buy(request("k1"))
    now = utcnow()
    claims = await asyncio.gather(*(claim_due(now, 10) for _ in range(5)))
    assert sum(len(c) for c in claims) == 1
    claimed = next(c[0] for c in claims if c)
    assert claimed.attempt_started_at is not None
    assert claimed.attempts == 1
    assert await claim_due(now + timedelta(hours=1), 10) == []
    assert await flood_wait(claimed, now + timedelta(seconds=3))
    assert await claim_due(now + timedelta(seconds=2), 10) == []
    again = await claim_due(now + timedelta(seconds=3), 10)
    assert [g.id for g in again] == [bought.gift.id]
    assert again[0].attempts == 2
    assert not await flood_wait(claimed, now)  # an older attempt gives back nothing


async def test_a_purchase_ends_once_sent_or_failed_with_the_stars_back(db: str) -> None:
    await funded(ALICE, 100)
    sent = (await buy(request("k1"))).gift
    failed = (await buy(request("k2"))).gift
    results = await asyncio.gather(
        mark_sent(sent.id, "tx-1", how="settled"),
        fail(sent.id, "late", label="not_in_ledger"),
        fail(failed.id, "Bad Request: STARGIFT_USAGE_LIMITED", label="refused"),
        fail(failed.id, "again", label="refused"),
    )
    assert results[0] != results[1]
    assert results[2] != results[3]
    record = await get_gift(failed.id)
    assert record is not None
    assert record.state is GiftState.FAILED
    assert await get_balance(ALICE.id) == 70 + 15 + (15 if results[1] else 0)
    kinds = (
        await LedgerEntry.filter(gift_id=failed.id).order_by("id").values_list("kind", "amount")
    )
    assert kinds == [("gift", -15), ("gift_reversal", 15)]


async def test_each_end_is_an_event_naming_the_purchase(db: str) -> None:
    await switch_events(True)
    await funded(ALICE, 100)
    sent = (await buy(request("k1"))).gift
    failed = (await buy(request("k2"))).gift
    await mark_sent(sent.id, None, how="answered")
    await fail(failed.id, "Bad Request: BALANCE_TOO_LOW", label="refused")
    bodies = [
        json.loads(body)
        for event_id in await Event.all().order_by("entry_id").values_list("id", flat=True)
        if (body := await event_body(event_id)) is not None  # type: ignore[arg-type]
    ]
    assert [(b["type"], b["data"]["gift_id"], b["data"]["amount"]) for b in bodies[1:]] == [
        ("gift.created", str(sent.id), -15),
        ("gift.created", str(failed.id), -15),
        ("gift.sent", str(sent.id), 0),
        ("gift.failed", str(failed.id), 15),
    ]


async def test_purchases_sent_since_the_bot_s_balance_was_read_count_against_it(
    db: str,
) -> None:
    await funded(ALICE, 100)
    read_at = utcnow()
    first = (await buy(request("k1"), bot_balance=30, balance_read_at=read_at)).gift
    await mark_sent(first.id, None, how="answered")  # the 30 read before now hold 15
    with pytest.raises(Refused) as refused:
        await buy(request("k2", stars=16), bot_balance=30, balance_read_at=read_at)
    assert refused.value.code is Refusal.BOT_BALANCE_LOW
    # Read again after it was sent, the balance already shows it.
    await buy(request("k2", stars=16), bot_balance=30, balance_read_at=utcnow())


async def test_check_finds_a_purchase_whose_ledger_rows_do_not_match_its_state(
    db: str,
) -> None:
    await funded(ALICE, 100)
    gift = (await buy(request("k1"))).gift
    assert (await check_ledger()).ok
    await Gift.filter(id=gift.id).update(state=GiftState.FAILED)  # no Stars given back
    report = await check_ledger()
    assert ("each gift purchase's ledger rows match its state", 1) in report.checks
    assert f"gift purchase {gift.id} (failed, 15 Stars)" in report.render()
    await Gift.filter(id=gift.id).update(state=GiftState.PENDING)
