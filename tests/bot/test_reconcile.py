"""Reconciliation against Telegram's Stars ledger as it really looks: kinds no library
knows, affiliate payments, items that cannot be read or recorded, and a history that
is older than the database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram import Bot
from tortoise import Tortoise

from bot.reconcile import Reconciler, backfill, plan_backfill, telegram_record
from models.infra import metrics
from models.infra.leases import acquire_lease
from models.infra.telegram import make_bot
from models.kinds import EntryKind, OrderStatus
from models.orders.opening import open_order
from models.queries.accounts import get_balance
from models.queries.invariants import check_ledger
from models.tables import LedgerEntry, Notice, TopUpOrder
from models.values import Profile
from tests.databases import through_pgbouncer
from tests.emulator import BotApiEmulator, Fault, running_emulator
from tests.helpers import ALICE, BORIS, TOKEN, cid, make_settings, metric
from tests.system import start_system

CAROL: dict[str, Any] = {"id": 1003, "first_name": "Carol", "language_code": "en"}
DAY = 86_400


@pytest.fixture
async def bot(emulator: BotApiEmulator) -> AsyncIterator[Bot]:
    running = make_bot(make_settings(telegram_api_url=emulator.url))
    yield running
    await running.session.close()


def payer(user: dict[str, Any]) -> dict[str, Any]:
    return {"is_bot": False, **user}


def payment(user: dict[str, Any], amount: int, payload: str, **fields: Any) -> dict[str, Any]:
    """An incoming invoice payment as getStarTransactions lists it; `affiliate` goes to
    the partner, the rest (date, nanostar_amount, id) to the transaction."""
    source: dict[str, Any] = {
        "type": "user",
        "transaction_type": "invoice_payment",
        "user": payer(user),
        "invoice_payload": payload,
    }
    if "affiliate" in fields:
        source["affiliate"] = fields.pop("affiliate")
    return {"amount": amount, "source": source, **fields}


def refund(tx: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"id": tx["id"], "amount": tx["amount"], "receiver": tx["source"], **fields}


async def order_for(user: dict[str, Any], amount: int, at: datetime | None = None) -> str:
    order = await open_order(
        Profile(user["id"]), amount, ttl=3600, max_pending=9, per_minute=9, now=at
    )
    return str(order.id)


async def topups() -> dict[str, int]:
    rows = await LedgerEntry.filter(kind=EntryKind.TOPUP).values_list(
        "telegram_payment_charge_id", "amount"
    )
    return {str(charge): int(amount) for charge, amount in rows}


def counted(name: str, **labels: str) -> float:
    return metric(metrics.render()[0].decode(), name, **labels)


OTHER_KINDS: list[dict[str, Any]] = [
    # Commission this bot earned in another bot's affiliate program.
    {
        "amount": 7,
        "source": {
            "type": "affiliate_program",
            "sponsor_user": {"id": 777, "is_bot": True, "first_name": "Shop"},
            "commission_per_mille": 100,
        },
    },
    # A withdrawal to Fragment.
    {
        "amount": 500,
        "receiver": {
            "type": "fragment",
            "withdrawal_state": {"type": "succeeded", "date": 1, "url": "https://fragment.com"},
        },
    },
    # The bot sent a user a gift.
    {
        "amount": 15,
        "receiver": {
            "type": "user",
            "transaction_type": "gift_purchase",
            "user": payer(ALICE),
            "gift": {
                "id": "5170145012310081615",
                "star_count": 15,
                "sticker": {
                    "file_id": "CAACAgIAAxUAAWc",
                    "file_unique_id": "AgADqxkAAo",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": True,
                    "is_video": False,
                },
            },
        },
    },
    # Paid media bought from the bot: not an invoice of ours.
    {
        "amount": 30,
        "source": {
            "type": "user",
            "transaction_type": "paid_media_payment",
            "user": payer(BORIS),
            "paid_media": [],
        },
    },
    # Ads paid from the bot's balance.
    {"amount": 40, "receiver": {"type": "telegram_ads"}},
    # A partner type from a Bot API release newer than any library.
    {"amount": 1000, "source": {"type": "telegram_stars_bank", "branch": "future"}},
]


@through_pgbouncer
async def test_a_mixed_history_credits_every_lost_payment_and_nothing_else(
    db: str, emulator: BotApiEmulator, bot: Bot
) -> None:
    alice_order = await order_for(ALICE, 100)
    boris_order = await order_for(BORIS, 250)
    late_order = await order_for(ALICE, 50)
    skipped_before = counted("stars_reconcile_skipped_total", kind="partner:unknown")

    lost = emulator.charge(emulator.add_invoice(TOKEN, alice_order, 100), ALICE, deliver=False)
    # Paid through an affiliate: Telegram lists the bot's net share (212.5) and the
    # affiliate's (37.5) of the 250 Boris paid.
    affiliate_ours = emulator.add_transaction(
        TOKEN,
        payment(
            BORIS,
            212,
            boris_order,
            nanostar_amount=500_000_000,
            affiliate={
                "affiliate_user": payer(CAROL),
                "commission_per_mille": 150,
                "amount": 37,
                "nanostar_amount": 500_000_000,
            },
        ),
    )["id"]
    # Not our order's payload: the buyer paid net + affiliate share.
    affiliate_foreign = emulator.add_transaction(
        TOKEN,
        payment(
            CAROL,
            45,
            "campaign-7",
            affiliate={
                "affiliate_chat": {"id": -100123, "type": "channel", "title": "Deals"},
                "commission_per_mille": 100,
                "amount": 5,
            },
        ),
    )["id"]
    for item in OTHER_KINDS:
        emulator.add_transaction(TOKEN, item)
    unreadable = emulator.add_transaction(TOKEN, payment(BORIS, "12", "x"))["id"]  # type: ignore[arg-type]
    # Lost last, behind everything above: nothing before it may stop it.
    last = emulator.charge(emulator.add_invoice(TOKEN, late_order, 50), ALICE, deliver=False)

    summary = await Reconciler(bot).run_pass()

    assert summary is not None
    assert summary.complete
    assert (summary.credited, summary.skipped, summary.failed) == (4, len(OTHER_KINDS), 1)
    assert await topups() == {lost: 100, affiliate_ours: 250, affiliate_foreign: 50, last: 50}
    assert not await LedgerEntry.filter(kind=EntryKind.REFUND).exists()
    assert [await get_balance(u["id"]) for u in (ALICE, BORIS, CAROL)] == [150, 250, 50]
    boris_paid = await TopUpOrder.get(id=boris_order)
    assert (boris_paid.status, boris_paid.telegram_payment_charge_id) == (
        OrderStatus.PAID,
        affiliate_ours,
    )
    anomalies = dict(await LedgerEntry.all().values_list("telegram_payment_charge_id", "anomaly"))
    assert anomalies == {
        lost: None,
        affiliate_ours: None,
        affiliate_foreign: "unknown_order",
        last: None,
    }
    assert unreadable not in anomalies

    # `check` compares the affiliate rows as net + affiliate share: all agree.
    report = await check_ledger(await telegram_record(bot))
    assert report.ok, report.render()
    assert any("partner:unknown (telegram_stars_bank) 1" in note for note in report.notes)
    assert any(unreadable in note for note in report.notes)

    # A second pass finds nothing to do and counts the skipped kinds once, not again.
    again = await Reconciler(bot).run_pass()
    assert again is not None
    assert (again.credited, again.complete) == (0, True)
    assert counted("stars_reconcile_skipped_total", kind="partner:unknown") == skipped_before + 1


async def refuse_ledger_rows_of(charge_id: str) -> None:
    """The database refuses this one charge (a trigger), as a broken row would."""
    conn = Tortoise.get_connection("default")
    if conn.capabilities.dialect == "postgres":
        await conn.execute_script(
            "CREATE FUNCTION refuse_charge() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.telegram_payment_charge_id = '{charge_id}' THEN "
            "RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$; "
            "CREATE TRIGGER refuse_charge BEFORE INSERT ON ledger_entries "
            "FOR EACH ROW EXECUTE FUNCTION refuse_charge();"
        )
    else:
        await conn.execute_script(
            "CREATE TRIGGER refuse_charge BEFORE INSERT ON ledger_entries "
            f"WHEN NEW.telegram_payment_charge_id = '{charge_id}' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        )


async def accept_ledger_rows_again() -> None:
    conn = Tortoise.get_connection("default")
    on_table = " ON ledger_entries" if conn.capabilities.dialect == "postgres" else ""
    await conn.execute_script(f"DROP TRIGGER refuse_charge{on_table};")


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_an_item_that_fails_to_record_does_not_stop_the_pass_and_is_tried_again(
    db: str, order: str
) -> None:
    now = int(time.time())
    # The API took an order two hours ago: the database was deployed then.
    await order_for(CAROL, 10, at=datetime.now(UTC) - timedelta(hours=2))
    async with running_emulator(transactions_order=order) as emulator:
        bot = make_bot(make_settings(telegram_api_url=emulator.url))
        withdrawal = OTHER_KINDS[1]
        # More than a page on each side, so a cursor that moved past the failure would
        # never read it again.
        for i in range(120):
            emulator.add_transaction(TOKEN, {**withdrawal, "date": now - 5000 + i})
        stuck = emulator.add_transaction(
            TOKEN, payment(BORIS, 70, "gift-card-1", id=cid("stuck"), date=now - 3600)
        )["id"]
        for i in range(150):
            emulator.add_transaction(TOKEN, {**withdrawal, "date": now - 3000 + 10 * i})
        last = emulator.charge(
            emulator.add_invoice(TOKEN, await order_for(ALICE, 100), 100), ALICE, deliver=False
        )
        await refuse_ledger_rows_of(stuck)
        failed_before = counted("stars_reconcile_failed_items_total", reason="apply")
        try:
            first = await Reconciler(bot).run_pass()
            assert first is not None
            assert (first.credited, first.failed, first.complete) == (1, 1, True)
            assert await topups() == {last: 100}

            second = await Reconciler(bot).run_pass()  # the database still refuses it
            assert second is not None
            assert (second.credited, second.failed) == (0, 1)

            await accept_ledger_rows_again()
            third = await Reconciler(bot).run_pass()
            assert third is not None
            assert (third.credited, third.failed) == (1, 0)
            assert await topups() == {last: 100, stuck: 70}
            assert await get_balance(BORIS["id"]) == 70
            fourth = await Reconciler(bot).run_pass()
            assert fourth is not None
            # Caught up: back to reading only the newest items.
            assert fourth.pages == (3 if order == "asc" else 1)
        finally:
            await bot.session.close()
    assert counted("stars_reconcile_failed_items_total", reason="apply") == failed_before + 2


async def test_an_item_that_always_fails_is_given_up_so_later_payments_are_still_recovered(
    db: str, emulator: BotApiEmulator, bot: Bot
) -> None:
    now = int(time.time())
    await order_for(CAROL, 10, at=datetime.now(UTC) - timedelta(hours=2))
    stuck = emulator.add_transaction(
        TOKEN, payment(BORIS, 70, "gift-card-2", id=cid("always"), date=now - 3600)
    )["id"]
    for i in range(350):
        emulator.add_transaction(TOKEN, {**OTHER_KINDS[1], "date": now - 3000 + i})
    last = emulator.charge(
        emulator.add_invoice(TOKEN, await order_for(ALICE, 100), 100), ALICE, deliver=False
    )
    await refuse_ledger_rows_of(stuck)
    # Three pages a pass: held at the failure, a pass would never reach `last`.
    reconciler = Reconciler(bot, max_pages=3, give_up_after=2)
    for _ in range(2):
        summary = await reconciler.run_pass()
        assert summary is not None
        assert (summary.failed, summary.complete) == (1, False)
    summary = await reconciler.run_pass()  # given up: the cursor moved on
    assert summary is not None
    assert (summary.credited, summary.failed) == (1, 0)
    assert await topups() == {last: 100}

    report = await check_ledger(await telegram_record(bot))  # the operator sees it
    assert f"Telegram payment {stuck} (70 XTR) is not on the ledger" in report.problems

    await accept_ledger_rows_again()
    full = await reconciler.run_pass(full=True)
    assert full is not None
    assert full.credited == 1
    assert await topups() == {last: 100, stuck: 70}


async def test_a_new_deployment_leaves_old_payments_alone_until_a_backfill(
    db: str, emulator: BotApiEmulator, bot: Bot
) -> None:
    now = int(time.time())

    def old(tx: dict[str, Any]) -> str:
        return str(emulator.add_transaction(TOKEN, tx)["id"])

    # The bot token sold Stars for a month before this database existed.
    alice_old = old(
        payment(ALICE, 100, "0b8c1f0e-9a43-4f7e-8f1e-2f4a1c9d0e11", date=now - 30 * DAY)
    )
    boris_old = old(payment(BORIS, 250, "legacy-42", date=now - 20 * DAY))
    affiliate_old = old(
        payment(
            ALICE,
            40,
            "legacy-43",
            date=now - 10 * DAY,
            affiliate={"affiliate_user": payer(CAROL), "commission_per_mille": 200, "amount": 10},
        )
    )
    refunded_then = emulator.add_transaction(
        TOKEN, payment(BORIS, 500, "legacy-44", date=now - 15 * DAY)
    )
    emulator.add_transaction(TOKEN, refund(refunded_then, date=now - 14 * DAY))
    carol_old = old(payment(CAROL, 75, "legacy-45", date=now - 5 * DAY))

    first = await Reconciler(bot).run_pass()

    assert first is not None
    assert (first.credited, first.refunds_recorded) == (0, 0)
    assert not await LedgerEntry.exists()
    assert not await Notice.exists()
    assert first.failed == 0
    assert {tx.id for tx in first.before_deployment} == {
        alice_old,
        boris_old,
        affiliate_old,
        carol_old,
    }

    # After deployment: an old payment is refunded (by Telegram support) and a new
    # payment's update is lost. Only the new payment is ours to record.
    emulator.refund_elsewhere(TOKEN, carol_old)
    new = emulator.charge(
        emulator.add_invoice(TOKEN, await order_for(ALICE, 30), 30), ALICE, deliver=False
    )
    second = await Reconciler(bot).run_pass()
    assert second is not None
    assert (second.credited, second.refunds_recorded) == (1, 0)
    assert await topups() == {new: 30}
    assert await Notice.filter(telegram_payment_charge_id__not=new).count() == 0

    report = await check_ledger(await telegram_record(bot))
    assert report.ok, report.render()
    listed = [note for note in report.notes if note.startswith("before deployment:")]
    assert len(listed) == 3
    for charge in (alice_old, boris_old, affiliate_old):
        assert any(charge in note for note in listed)

    # The operator looks first: a dry run lists, credits nothing.
    since = datetime.fromtimestamp(now - 25 * DAY, UTC)
    assert [tx.id for tx in (await plan_backfill(bot, since)).payments] == [
        boris_old,
        affiliate_old,
    ]
    plan = await plan_backfill(bot)
    assert [(tx.id, tx.payer_id, tx.amount) for tx in plan.payments] == [
        (alice_old, ALICE["id"], 100),
        (boris_old, BORIS["id"], 250),
        (affiliate_old, ALICE["id"], 50),
    ]
    assert plan.refunded == 2
    assert await topups() == {new: 30}

    results = await backfill(plan.payments)
    assert [str(getattr(result, "status", result)) for _, result in results] == ["credited"] * 3
    assert await topups() == {new: 30, alice_old: 100, boris_old: 250, affiliate_old: 50}
    assert await get_balance(ALICE["id"]) == 180
    assert await Notice.filter(telegram_payment_charge_id__not=new).count() == 0  # no messages
    assert not (await plan_backfill(bot)).payments  # nothing left: running it again is harmless
    report = await check_ledger(await telegram_record(bot))
    assert report.ok, report.render()
    assert not any("before deployment" in note for note in report.notes)

    # A backfilled payment is ours now: its refund is recorded like any other.
    emulator.refund_elsewhere(TOKEN, boris_old)
    third = await Reconciler(bot).run_pass()
    assert third is not None
    assert third.refunds_recorded == 1
    assert await get_balance(BORIS["id"]) == 0


async def test_an_upgraded_database_still_recovers_what_the_old_version_would_have(
    db: str, emulator: BotApiEmulator, bot: Bot
) -> None:
    now = int(time.time())
    # The previous version of the service took its first order three days ago.
    await order_for(CAROL, 20, at=datetime.now(UTC) - timedelta(days=3))
    before = emulator.add_transaction(TOKEN, payment(ALICE, 100, "other-app", date=now - 5 * DAY))
    lost = emulator.add_transaction(TOKEN, payment(BORIS, 250, "other-app", date=now - 2 * DAY))

    summary = await Reconciler(bot).run_pass()

    assert summary is not None
    assert summary.credited == 1
    assert [tx.id for tx in summary.before_deployment] == [before["id"]]
    assert await topups() == {lost["id"]: 250}


async def test_a_pass_longer_than_its_lease_keeps_it_and_a_dead_holder_blocks_briefly(
    db: str, emulator: BotApiEmulator, bot: Bot
) -> None:
    """The lease is short and renewed while a pass runs: a second process never runs a
    pass alongside a slow one, and a process killed mid-pass (its lease never released)
    holds the next pass up for one lease length, not minutes."""
    emulator.set_fault("getStarTransactions", Fault("slow", delay=1.5))
    slow = Reconciler(bot, holder="slow:1", lease_seconds=0.6)
    other = Reconciler(bot, holder="other:2", lease_seconds=0.6)
    running = asyncio.create_task(slow.run_pass())
    await asyncio.sleep(1.0)  # past the first lease length: renewed by now
    assert await other.run_pass() is None
    assert await running is not None
    emulator.clear_faults()

    assert await acquire_lease("reconcile", "killed:3", 0.6)  # and never released
    assert await other.run_pass() is None
    await asyncio.sleep(0.7)
    assert await other.run_pass() is not None


async def test_a_payment_whose_update_telegram_dropped_after_a_day_is_credited_once(
    db: str, emulator: BotApiEmulator, bot: Bot, aiohttp_client: Any
) -> None:
    """Telegram keeps an undelivered update for a day: a payment made while no worker
    polled, found a day later, reaches the ledger only through reconciliation."""
    order = await order_for(ALICE, 100)
    charge = emulator.charge(emulator.add_invoice(TOKEN, order, 100), ALICE)  # nobody polls
    emulator.advance_clock(DAY + 60)

    system, stop, task = await start_system(aiohttp_client, emulator)
    try:
        for _ in range(500):  # the leading worker reconciles as it starts
            if await topups():
                break
            await asyncio.sleep(0.02)
        assert await topups() == {charge: 100}
        await system.settle()
        state = emulator.bot(TOKEN)
        assert not any("successful_payment" in u.get("message", {}) for u in state.delivered)
        assert [
            u["message"]["successful_payment"]["telegram_payment_charge_id"] for u in state.expired
        ] == [charge]
        again = await Reconciler(bot).run_pass()
        assert again is not None
        assert again.credited == 0
        assert await topups() == {charge: 100}
        assert await get_balance(ALICE["id"]) == 100
        [notice] = await Notice.filter(telegram_payment_charge_id=charge)
        assert notice.kind == "recovered"
        await emulator.wait_for_message(TOKEN, ALICE["id"])
    finally:
        stop.set()
        await asyncio.wait_for(task, 40)
    report = await check_ledger(await telegram_record(bot))
    assert report.ok, report.render()
