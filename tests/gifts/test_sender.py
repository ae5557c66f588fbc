"""The leading worker's gift sender against the emulator, on SQLite and PostgreSQL: one
call per purchase, a definite refusal gives the Stars back at once, a 429 waits, and
an unknown outcome is never called again but settled from getStarTransactions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest
from aiogram import Bot

from bot.gifts import GiftSender
from models.gifts.rules import Item, Outcome, Recipient
from models.gifts.store import GiftRecord, GiftRequest, buy, claim_due, get_gift, mark_sent
from models.infra.telegram import make_bot
from models.kinds import EntryKind, GiftKind, GiftState
from models.ledger.entries import apply_entry
from models.queries.accounts import get_balance
from models.tables import Gift, LedgerEntry
from models.users import upsert_user
from models.values import utcnow
from tests.emulator import BotApiEmulator
from tests.emulator.server import Fault
from tests.helpers import TOKEN, make_settings
from tests.models.buyers import ALICE

pytestmark = pytest.mark.usefixtures("ledger_holds")
TEDDY = "5170233102089322756"


@pytest.fixture
async def bot(emulator: BotApiEmulator) -> AsyncIterator[Bot]:
    running = make_bot(make_settings(telegram_api_url=emulator.url))
    emulator.set_star_balance(TOKEN, 5000)
    yield running
    await running.session.close()


def sender(bot: Bot, *, window: float = 600, call_timeout: float = 1) -> GiftSender:
    """A sender whose calls last at most a second: an attempt is settled from the ledger
    only once that second has passed (its call may have been on the wire till then)."""
    return GiftSender(bot, window=timedelta(seconds=window), call_timeout=call_timeout, margin=0)


async def bought(key: str = "k1", *, gift: str = TEDDY, months: int | None = None) -> GiftRecord:
    await upsert_user(ALICE)
    if await get_balance(ALICE.id) == 0:
        await apply_entry(ALICE.id, 100_000, EntryKind.DEV_CREDIT, note="test")
    item = Item(GiftKind.PREMIUM, months=months) if months else Item(GiftKind.GIFT, gift)
    price = {3: 1000, 6: 1500, 12: 2500}[months] if months else 15
    request = GiftRequest(ALICE.id, item, Recipient(user_id=7), price, key)
    return (await buy(request)).gift


async def state_of(gift: GiftRecord) -> GiftRecord:
    record = await get_gift(gift.id)
    assert record is not None
    return record


async def send_all(gifts: GiftSender) -> None:
    await gifts.send_due()
    await gifts.wait_calls()


async def test_an_answered_purchase_is_sent_once(
    db: str, bot: Bot, emulator: BotApiEmulator
) -> None:
    gift, premium = await bought("k1"), await bought("k2", months=3)
    gifts = sender(bot)
    await send_all(gifts)
    await send_all(gifts)
    assert (await state_of(gift)).state is GiftState.SENT
    assert (await state_of(premium)).state is GiftState.SENT
    assert len(emulator.bot(TOKEN).purchases) == 2
    assert emulator.own_stars(TOKEN) == 5000 - 15 - 1000
    kinds = await LedgerEntry.filter(gift_id=gift.id).order_by("id").values_list("kind")
    assert kinds == [("gift",), ("gift_sent",)]
    # Its row is found for it later, and settles nothing else.
    await gifts.settle_pass()
    assert (await state_of(gift)).transaction_id is not None


async def test_two_senders_claiming_at_once_call_once_per_purchase(
    db: str, bot: Bot, emulator: BotApiEmulator
) -> None:
    for n in range(5):
        await bought(f"k{n}")
    first, second = sender(bot), sender(bot)
    await asyncio.gather(send_all(first), send_all(second), send_all(first))
    assert len(emulator.bot(TOKEN).calls_of("sendGift")) == 5


async def test_a_definite_refusal_fails_it_and_gives_the_stars_back(
    db: str, bot: Bot, emulator: BotApiEmulator
) -> None:
    gift = await bought()
    emulator.set_star_balance(TOKEN, 10)  # the bot cannot pay: BALANCE_TOO_LOW
    await send_all(sender(bot))
    record = await state_of(gift)
    assert record.state is GiftState.FAILED
    assert record.failure_reason is not None
    assert "BALANCE_TOO_LOW" in record.failure_reason
    assert await get_balance(ALICE.id) == 100_000


async def test_a_flood_wait_calls_again_after_retry_after(
    db: str, bot: Bot, emulator: BotApiEmulator
) -> None:
    gift = await bought()
    emulator.set_fault("sendGift", Fault("retry_after", retry_after=1, times=1))
    gifts = sender(bot)
    claimed = await claim_due(utcnow(), 1)
    assert await gifts.send(claimed[0]) is Outcome.FLOOD_WAIT
    assert await claim_due(utcnow(), 1) == []
    await asyncio.sleep(1.1)
    await send_all(gifts)
    assert (await state_of(gift)).state is GiftState.SENT
    assert len(emulator.bot(TOKEN).purchases) == 1


@pytest.mark.parametrize("fault", ["error_after", "lost"])
async def test_a_lost_answer_after_a_real_purchase_settles_sent_with_one_debit(
    db: str, bot: Bot, emulator: BotApiEmulator, fault: str
) -> None:
    gift = await bought()
    emulator.set_fault("sendGift", Fault(fault, status=502, times=1))  # type: ignore[arg-type]
    gifts = sender(bot, call_timeout=1)
    await send_all(gifts)
    assert (await state_of(gift)).state is GiftState.PENDING
    emulator.clear_faults()
    await send_all(gifts)  # never called again
    assert len(emulator.bot(TOKEN).calls_of("sendGift")) == 1
    await asyncio.sleep(1.1)
    await gifts.settle_pass()
    record = await state_of(gift)
    assert record.state is GiftState.SENT
    assert record.transaction_id == emulator.bot(TOKEN).purchases[0]["id"]
    assert await get_balance(ALICE.id) == 100_000 - 15


async def test_a_lost_request_settles_failed_with_the_stars_back_after_the_window(
    db: str, bot: Bot, emulator: BotApiEmulator
) -> None:
    gift = await bought()
    emulator.set_fault("sendGift", Fault("error", status=500, times=1))
    gifts = sender(bot, window=1)
    await send_all(gifts)
    await gifts.settle_pass()
    assert (await state_of(gift)).state is GiftState.PENDING  # within the window
    await asyncio.sleep(1.1)
    await gifts.settle_pass()
    assert (await state_of(gift)).state is GiftState.FAILED
    assert await get_balance(ALICE.id) == 100_000
    assert emulator.bot(TOKEN).purchases == []


async def test_a_row_that_appears_late_but_within_the_window_settles_sent(
    db: str, bot: Bot, emulator: BotApiEmulator
) -> None:
    gift = await bought()
    emulator.set_purchase_row_delay(TOKEN, 3600)
    emulator.set_fault("sendGift", Fault("error_after", status=504, times=1))
    gifts = sender(bot, window=60)
    await send_all(gifts)
    await asyncio.sleep(1.1)
    await gifts.settle_pass()
    assert (await state_of(gift)).state is GiftState.PENDING
    assert emulator.show_late_rows(TOKEN) == 1
    await gifts.settle_pass()
    assert (await state_of(gift)).state is GiftState.SENT


async def test_identical_unknown_purchases_are_settled_by_count(
    db: str, bot: Bot, emulator: BotApiEmulator
) -> None:
    first, second = await bought("k1"), await bought("k2")
    emulator.set_fault("sendGift", Fault("error_after", status=502, times=1))
    gifts = sender(bot, window=1)
    claimed = await claim_due(utcnow(), 1)
    await gifts.send(claimed[0])  # made, answer lost
    emulator.set_fault("sendGift", Fault("error", status=502, times=1))
    await send_all(gifts)  # not made
    await asyncio.sleep(1.1)
    await gifts.settle_pass()
    states = sorted([(await state_of(first)).state, (await state_of(second)).state])
    assert states == [GiftState.FAILED, GiftState.SENT]
    assert await get_balance(ALICE.id) == 100_000 - 15


async def test_a_row_after_the_window_is_recorded_on_the_failed_purchase_and_reported(
    db: str, bot: Bot, emulator: BotApiEmulator
) -> None:
    gift = await bought()
    emulator.set_purchase_row_delay(TOKEN, 3600)
    emulator.set_fault("sendGift", Fault("error_after", status=502, times=1))
    gifts = sender(bot, window=1)
    await send_all(gifts)
    await asyncio.sleep(1.1)
    await gifts.settle_pass()
    assert (await state_of(gift)).state is GiftState.FAILED
    assert await get_balance(ALICE.id) == 100_000  # the Stars went back
    assert emulator.show_late_rows(TOKEN) == 1  # ...and Telegram made it after all
    gifts._next_late_look = 0.0  # the once-a-minute look, now
    counts = await gifts.settle_pass()
    assert counts["late"] == 1
    record = await state_of(gift)
    assert record.state is GiftState.FAILED
    assert record.transaction_id == emulator.bot(TOKEN).purchases[0]["id"]
    gifts._next_late_look = 0.0
    assert await gifts.settle_pass() == {}  # reported once


async def test_a_late_look_does_not_take_the_row_of_a_purchase_still_on_the_wire(
    db: str, bot: Bot, emulator: BotApiEmulator
) -> None:
    # A purchase failed for want of its row (its call never went out); then the same gift
    # to the same recipient again, made, its answer lost. While that second call may still
    # be on the wire its class is left alone by the settling pass: the once-a-minute look
    # for late rows must leave it alone too, or it records the second purchase's row on
    # the first (a false "purchase after failure") and the second, finding no row, fails
    # with the Stars back: a gift sent and paid by nobody.
    first = await bought("k1")
    emulator.set_fault("sendGift", Fault("error", status=502, times=1))  # not made
    await send_all(sender(bot, window=1))
    await asyncio.sleep(1.1)
    await sender(bot, window=1).settle_pass()
    assert (await state_of(first)).state is GiftState.FAILED
    second = await bought("k2")
    emulator.set_fault("sendGift", Fault("error_after", status=502, times=1))  # made
    on_the_wire = sender(bot, window=1, call_timeout=60)
    await send_all(on_the_wire)
    assert len(emulator.bot(TOKEN).purchases) == 1
    on_the_wire._next_late_look = 0.0  # the once-a-minute look, now
    counts = await on_the_wire.settle_pass()
    assert counts["late"] == 0
    assert (await state_of(first)).transaction_id is None
    await asyncio.sleep(1.1)
    await sender(bot, window=1).settle_pass()  # the call's time is up: settled
    record = await state_of(second)
    assert record.state is GiftState.SENT
    assert record.transaction_id == emulator.bot(TOKEN).purchases[0]["id"]
    assert await get_balance(ALICE.id) == 100_000 - 15


async def test_a_purchase_marked_sent_without_an_attempt_does_not_stop_the_settling(
    db: str, bot: Bot, emulator: BotApiEmulator
) -> None:
    # Marked sent by hand while still in the outbox (`gifts settle --sent` before the
    # worker claimed it): it has no attempt to date rows by. The pass must settle the
    # others all the same, not fail on it every 5 seconds for a day.
    by_hand = await bought("k1")
    assert await mark_sent(by_hand.id, None, how="settled")
    unknown = await bought("k2")
    emulator.set_fault("sendGift", Fault("error_after", status=502, times=1))  # made
    gifts = sender(bot)
    await send_all(gifts)
    await asyncio.sleep(1.1)
    await gifts.settle_pass()
    assert (await state_of(unknown)).state is GiftState.SENT


async def test_a_claim_gone_stale_before_its_call_is_never_called_and_settles_failed(
    db: str, bot: Bot, emulator: BotApiEmulator
) -> None:
    # The process paused between the claim and the call (a stopped VM, a blocked loop):
    # by the time it wakes, a standby's settling pass may have failed the purchase and
    # given the Stars back. Calling now could send the gift after its Stars went back.
    gift = await bought()
    (claimed,) = await claim_due(utcnow(), 1)
    began = utcnow() - timedelta(seconds=60)
    await Gift.filter(id=claimed.id).update(attempt_started_at=began)
    stale = replace(claimed, attempt_started_at=began)
    gifts = GiftSender(bot, window=timedelta(seconds=30), call_timeout=30)  # the real margin
    assert await gifts.send(stale) is Outcome.UNKNOWN
    assert emulator.bot(TOKEN).calls_of("sendGift") == []
    await gifts.settle_pass()  # no row can appear: failed, the Stars back
    assert (await state_of(gift)).state is GiftState.FAILED
    assert await get_balance(ALICE.id) == 100_000
    assert emulator.bot(TOKEN).purchases == []


def test_a_claims_call_may_last_only_what_is_left_of_its_time_on_the_wire(bot: Bot) -> None:
    # The settling pass takes an attempt as off the wire `call_timeout + margin` after it
    # began: a call begun later than half of that is not made, an earlier one is cut off
    # when that time runs out (never aiogram's 0, which is no time-out at all).
    gifts = GiftSender(bot, window=timedelta(seconds=600), call_timeout=10, margin=0)
    now = utcnow()
    record = GiftRecord(
        uuid.uuid4(), ALICE.id, Item(GiftKind.GIFT, TEDDY), Recipient(user_id=7), 15, None,
        False, GiftState.PENDING, "k1", now, now, 1, None, None, None,
    )  # fmt: skip
    fresh = gifts.call_budget(record)
    assert fresh is not None
    assert 9 < fresh <= 10
    older = gifts.call_budget(replace(record, attempt_started_at=now - timedelta(seconds=2)))
    assert older is not None
    assert 0 < older <= 8
    assert (
        gifts.call_budget(replace(record, attempt_started_at=now - timedelta(seconds=6))) is None
    )
