"""The events outbox, on SQLite and PostgreSQL: one event per ledger row, written in its
transaction, each user's events handed out one at a time in the order they happened."""

from __future__ import annotations

import asyncio
import contextvars
import json
import random
from datetime import timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from models.events.delivery import (
    claim_due,
    event_body,
    finish,
    oldest_pending,
    parse_public_id,
    public_id,
    repair_heads,
    reschedule,
)
from models.events.operator import count_events, list_events, redeliver, redeliver_abandoned
from models.events.outbox import events_on_since, switch_events
from models.kinds import EntryKind, EventState
from models.ledger.credits import credit_charge
from models.ledger.debits import debit, reverse_debit
from models.ledger.entries import apply_entry, post
from models.ledger.refunds import record_refund
from models.orders.opening import open_order
from models.tables import Event, LedgerEntry
from models.values import Charge, utcnow
from tests.helpers import cid
from tests.models.buyers import ALICE, BOB

pytestmark = pytest.mark.usefixtures("ledger_holds")


@pytest.fixture
async def events_on(db: str) -> str:
    await switch_events(True)
    return db


async def bodies() -> list[dict[str, Any]]:
    """Every event's body, in the order the ledger rows were written."""
    events = await Event.all().order_by("entry_id")
    return [json.loads(await event_body(event.id) or b"null") for event in events]


async def heads() -> dict[int, list[int]]:
    """Each user's events that carry a next attempt time (their heads), by ledger id."""
    found: dict[int, list[int]] = {}
    for event in await Event.filter(state=EventState.PENDING, next_attempt_at__isnull=False):
        found.setdefault(event.user_id, []).append(event.entry_id)
    return found


async def test_every_kind_of_ledger_change_writes_exactly_one_event(events_on: str) -> None:
    order = await open_order(ALICE, 100, ttl=3600, max_pending=9, per_minute=9)
    charge = Charge(cid("paid"), ALICE.id, 100, str(order.id))
    await asyncio.gather(*(credit_charge(charge) for _ in range(5)))  # redelivered 5 times
    # The second charge of one order: the anomaly is found after the row is written.
    await credit_charge(Charge(cid("again"), ALICE.id, 100, str(order.id)))
    await credit_charge(Charge(cid("usd"), ALICE.id, 300, "nope", currency="USD"))
    await record_refund(cid("again"), source="command")
    await record_refund(cid("again"))  # reported again: nothing new
    await record_refund(cid("lost"), user_id=BOB.id, amount=40, payload="x", source="reconcile")
    spent = await debit(ALICE.id, 30, "a teddy bear", "gift-8812")
    await debit(ALICE.id, 30, "a teddy bear", "gift-8812")  # a replay
    await reverse_debit(spent.debit.id, "out of stock")
    await reverse_debit(spent.debit.id)  # again: nothing new
    await apply_entry(BOB.id, 500, EntryKind.DEV_CREDIT, note="/dev/add-stars")
    await apply_entry(BOB.id, -5, EntryKind.ADJUSTMENT, note="support case 12")

    entries = await LedgerEntry.all().order_by("id")
    events = await Event.all().order_by("entry_id")
    assert [e.entry_id for e in events] == [e.id for e in entries]
    assert len({e.id for e in events}) == len(entries) == 10
    got = await bodies()
    assert [(b["type"], b["data"]["telegram_id"], b["data"]["amount"]) for b in got] == [
        ("topup.credited", ALICE.id, 100),
        ("topup.credited", ALICE.id, 100),
        ("topup.credited", ALICE.id, 0),
        ("topup.refunded", ALICE.id, -100),
        ("topup.credited", BOB.id, 40),
        ("topup.refunded", BOB.id, -40),
        ("debit.created", ALICE.id, -30),
        ("debit.reversed", ALICE.id, 30),
        ("balance.adjusted", BOB.id, 500),
        ("balance.adjusted", BOB.id, -5),
    ]
    assert [b["data"]["stars_balance"] for b in got] == [
        100,
        200,
        200,
        100,
        40,
        0,
        70,
        100,
        500,
        495,
    ]
    assert [b["data"]["source"] for b in got] == [
        "update",
        "update",
        "update",
        "command",
        "reconcile",
        "reconcile",
        "service",
        "service",
        "development",
        "operator",
    ]
    assert [b["data"]["anomaly"] for b in got] == [
        None,
        "order_already_paid",
        "currency",
        None,
        "refund_before_payment",
        None,
        None,
        None,
        None,
        None,
    ]
    first, *_ = got
    assert first["id"] == public_id(events[0].id)
    assert first["id"].startswith("evt_")
    assert first["data"]["order_id"] == str(order.id)
    assert first["data"]["charge_id"] == cid("paid")
    assert (first["data"]["debit_id"], first["data"]["idempotency_key"]) == (None, None)
    for body in got[6:8]:
        assert body["data"]["debit_id"] == str(spent.debit.id)
        assert body["data"]["idempotency_key"] == "gift-8812"
        assert body["data"]["reason"] == "a teddy bear"
    assert [b["data"]["reason"] for b in got[8:]] == ["/dev/add-stars", "support case 12"]
    assert set(first) == {"id", "type", "created_at", "data"}
    assert set(first["data"]) == {
        "telegram_id",
        "amount",
        "stars_balance",
        "order_id",
        "charge_id",
        "debit_id",
        "idempotency_key",
        "reason",
        "anomaly",
        "source",
        "by",
    }
    assert first["created_at"].endswith("+00:00")
    assert await event_body(events[0].id) == await event_body(events[0].id)  # stable bytes


async def test_nothing_is_written_while_events_are_off(db: str) -> None:
    assert await events_on_since() is None
    await credit_charge(Charge(cid("off"), ALICE.id, 50, "x"))
    await switch_events(True)
    since = await events_on_since()
    assert since is not None
    await switch_events(True)  # a restart keeps the first time
    assert await events_on_since() == since
    await credit_charge(Charge(cid("on"), ALICE.id, 50, "x"))
    await switch_events(False)
    await credit_charge(Charge(cid("off again"), ALICE.id, 50, "x"))
    assert [
        json.loads(b)["data"]["charge_id"]
        for b in [await event_body(e.id) or b"" for e in await Event.all()]
    ] == [cid("on")]


async def test_a_users_events_go_out_one_at_a_time_in_order(events_on: str) -> None:
    for i in range(3):
        await apply_entry(ALICE.id, 10 + i, EntryKind.DEV_CREDIT)
    await apply_entry(BOB.id, 7, EntryKind.DEV_CREDIT)
    alice_rows = [e.entry_id for e in await Event.filter(user_id=ALICE.id).order_by("entry_id")]
    assert await heads() == {ALICE.id: alice_rows[:1], BOB.id: [alice_rows[-1] + 1]}

    now = utcnow()
    claimed = await claim_due(now, 10, now + timedelta(seconds=15))
    assert [(c.user_id, c.entry_id) for c in claimed] == [
        (ALICE.id, alice_rows[0]),
        (BOB.id, alice_rows[-1] + 1),
    ]
    assert await claim_due(now, 10, now + timedelta(seconds=15)) == []  # claimed: not due
    alice = claimed[0]
    await reschedule(alice.id, 1, now + timedelta(seconds=2), "HTTP 500")
    assert await claim_due(now + timedelta(seconds=1), 10, now) == []
    [again] = await claim_due(now + timedelta(seconds=2), 10, now + timedelta(seconds=20))
    assert (again.id, again.attempts) == (alice.id, 1)

    assert await finish(alice.id, ALICE.id, EventState.DELIVERED, now)
    assert not await finish(alice.id, ALICE.id, EventState.DELIVERED, now)  # already done
    [second] = await claim_due(now, 10, now + timedelta(seconds=15))
    assert second.entry_id == alice_rows[1]
    row = await Event.get(id=alice.id)
    assert (row.state, row.attempts, row.last_error) == (EventState.DELIVERED, 2, "HTTP 500")


async def test_an_abandoned_event_can_be_delivered_again(events_on: str) -> None:
    for amount in (1, 2, 3):
        await apply_entry(ALICE.id, amount, EntryKind.DEV_CREDIT)
    now = utcnow()
    [first] = await claim_due(now, 10, now)
    await finish(first.id, ALICE.id, EventState.ABANDONED, now, "timeout")
    [second] = await claim_due(now, 10, now)
    await finish(second.id, ALICE.id, EventState.ABANDONED, now, "HTTP 502")
    [third] = await claim_due(now, 10, now)  # on its way now
    counts = await count_events()
    assert (counts[EventState.PENDING], counts[EventState.ABANDONED]) == (1, 2)
    listed = await list_events([EventState.ABANDONED], 10)
    assert [(line.id, line.last_error) for line in listed] == [
        (first.id, "timeout"),
        (second.id, "HTTP 502"),
    ]

    later = now + timedelta(days=4)
    assert await redeliver_abandoned(later) == 2
    assert not await redeliver(first.id, later)  # no longer abandoned
    row = await Event.get(id=first.id)
    assert (row.state, row.attempts, row.next_attempt_at) == (EventState.PENDING, 0, None)
    assert row.queued_at == later  # three more days from now
    # They go out after the one that was already on its way, oldest first.
    await finish(third.id, ALICE.id, EventState.DELIVERED, later)
    order = []
    while claimed := await claim_due(later, 10, later):
        order += [c.id for c in claimed]
        await finish(claimed[0].id, ALICE.id, EventState.DELIVERED, later)
    assert order == [first.id, second.id]


async def test_a_user_left_without_a_head_gets_one_back(events_on: str) -> None:
    for amount in (1, 2):
        await apply_entry(ALICE.id, amount, EntryKind.DEV_CREDIT)
    await Event.filter(user_id=ALICE.id).update(next_attempt_at=None)  # a hand edit
    assert await heads() == {}
    assert await repair_heads(utcnow()) == 1
    oldest = await Event.filter(user_id=ALICE.id).order_by("entry_id").first()
    assert oldest is not None
    assert await heads() == {ALICE.id: [oldest.entry_id]}
    assert await repair_heads(utcnow()) == 0


async def test_the_oldest_pending_event(events_on: str) -> None:
    assert await oldest_pending() is None
    before = utcnow()
    await apply_entry(ALICE.id, 1, EntryKind.DEV_CREDIT)
    await apply_entry(BOB.id, 1, EntryKind.DEV_CREDIT)
    oldest = await oldest_pending()
    assert oldest is not None
    assert before <= oldest <= utcnow()
    first = await Event.all().order_by("entry_id").first()
    assert first is not None
    assert oldest == first.created_at


def test_public_ids_read_back() -> None:
    import uuid

    event_id = uuid.uuid4()
    assert parse_public_id(public_id(event_id)) == event_id
    assert parse_public_id(str(event_id)) == event_id
    assert parse_public_id("evt_nope") is None


async def test_writes_racing_with_deliveries_never_strand_an_event(events_on: str) -> None:
    """Balance moves and senders finishing heads, at once, for the same users: every
    event is handed out exactly once, each user's in ledger order."""
    users = [ALICE.id, BOB.id, 1003]
    for user in users:
        await apply_entry(user, 1000, EntryKind.DEV_CREDIT)
    handed: dict[int, list[int]] = {user: [] for user in users}
    writing = True

    async def write(user: int, tag: str) -> None:
        for i in range(30):
            if i % 2:
                await apply_entry(user, 1, EntryKind.DEV_CREDIT)
            else:
                await debit(user, 1, "tick", f"{user}-{tag}-{i}")

    async def deliver(seed: int) -> None:
        rng = random.Random(seed)
        while True:
            now = utcnow()
            claimed = await claim_due(now, 2, now + timedelta(seconds=30))
            if not claimed and not writing:
                return
            for event in claimed:
                handed[event.user_id].append(event.entry_id)
                await asyncio.sleep(rng.random() / 1000)
                await finish(event.id, event.user_id, EventState.DELIVERED, utcnow())
            await asyncio.sleep(0)

    senders = [asyncio.create_task(deliver(seed)) for seed in range(3)]
    await asyncio.gather(*(write(user, tag) for user in users for tag in "ab"))
    writing = False
    await asyncio.wait_for(asyncio.gather(*senders), 60)

    assert await Event.filter(state=EventState.PENDING).count() == 0
    for user in users:
        rows = [e.id for e in await LedgerEntry.filter(user_id=user).order_by("id")]
        assert handed[user] == rows


async def test_finishing_a_head_while_its_users_next_event_commits_hands_that_one_on(
    events_on: str,
) -> None:
    """The race the user's row lock closes: the head is finished while a balance move of
    the same user, already written behind it, has not yet committed."""
    await apply_entry(ALICE.id, 10, EntryKind.DEV_CREDIT)
    now = utcnow()
    [head] = await claim_due(now, 10, now + timedelta(seconds=30))
    outside = contextvars.copy_context()  # the sender's task is outside the transaction
    async with in_transaction() as conn:
        await post(conn, ALICE.id, 5, EntryKind.ADJUSTMENT, source="operator")
        finishing = asyncio.create_task(
            finish(head.id, ALICE.id, EventState.DELIVERED, now), context=outside
        )
        await asyncio.sleep(0.3)  # the sender reaches the head while this is uncommitted
        assert not finishing.done()  # it waits for the user's row
    assert await asyncio.wait_for(finishing, 10)
    [following] = await claim_due(now, 10, now)
    assert following.entry_id == head.entry_id + 1


async def test_two_senders_never_claim_the_same_event(events_on: str) -> None:
    for i in range(30):
        await apply_entry(1000 + i, 1, EntryKind.DEV_CREDIT)
    now = utcnow()
    claimed: list[object] = []
    for _ in range(10):  # on PostgreSQL a claim that lost a race skips the row this pass
        results = await asyncio.gather(
            *(claim_due(now, 7, now + timedelta(seconds=30)) for _ in range(6))
        )
        claimed += [event.id for result in results for event in result]
    assert len(claimed) == len(set(claimed)) == 30


async def test_a_rolled_back_balance_move_leaves_no_event(events_on: str) -> None:
    await apply_entry(ALICE.id, 5, EntryKind.DEV_CREDIT)

    async def move_then_fail() -> None:
        async with in_transaction() as conn:
            await post(conn, ALICE.id, 1, EntryKind.ADJUSTMENT, source="operator")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        await move_then_fail()
    assert await Event.all().count() == 1
