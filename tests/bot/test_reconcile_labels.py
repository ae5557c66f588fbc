"""Reconciliation, `check` and backfill on sales as the real server labels them:
`invoice_payment` when Telegram sent the product information, else
`paid_media_payment` with the payload in `paid_media_payload`, for payments and
refunds alike (tdlib/telegram-bot-api, Client.cpp, JsonStarTransactionType)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot

from bot.reconcile import Reconciler, backfill, plan_backfill, telegram_record
from models.infra.telegram import make_bot
from models.kinds import EntryKind, OrderStatus
from models.orders.opening import open_order
from models.queries.accounts import get_balance
from models.queries.invariants import check_ledger
from models.tables import LedgerEntry, TopUpOrder
from models.values import Profile
from tests.emulator import BotApiEmulator
from tests.emulator.server import SaleLabel
from tests.helpers import ALICE, BORIS, TOKEN, make_settings

CAROL: dict[str, Any] = {"id": 1003, "first_name": "Carol", "language_code": "en"}
DAY = 86_400
LABELS: list[SaleLabel] = ["invoice_payment", "paid_media_payment"]


@pytest.fixture
async def bot(emulator: BotApiEmulator) -> AsyncIterator[Bot]:
    running = make_bot(make_settings(telegram_api_url=emulator.url))
    yield running
    await running.session.close()


def payer(user: dict[str, Any]) -> dict[str, Any]:
    return {"is_bot": False, **user}


async def entries(kind: EntryKind) -> dict[str, int]:
    rows = await LedgerEntry.filter(kind=kind).values_list("telegram_payment_charge_id", "amount")
    return {str(charge): int(amount) for charge, amount in rows}


def someones_paid_media(emulator: BotApiEmulator, date: int | None = None) -> str:
    """Somebody bought paid media from the bot: not one of our orders."""
    row: dict[str, Any] = {
        "amount": 30,
        "source": emulator.sale_partner(payer(CAROL), "album-9", "paid_media_payment"),
    }
    if date is not None:
        row["date"] = date
    return str(emulator.add_transaction(TOKEN, row)["id"])


@pytest.mark.parametrize("label", LABELS)
async def test_a_lost_payment_and_its_refund_are_recorded_whatever_either_row_says(
    db: str, emulator: BotApiEmulator, bot: Bot, label: SaleLabel
) -> None:
    emulator.set_sale_label(label)
    order = await open_order(Profile(ALICE["id"]), 100, ttl=3600, max_pending=9, per_minute=9)
    lost = emulator.charge(emulator.add_invoice(TOKEN, str(order.id), 100), ALICE, deliver=False)
    album = someones_paid_media(emulator)
    emulator.refund_elsewhere(TOKEN, album, label="paid_media_payment")

    report = await check_ledger(await telegram_record(bot))
    assert f"Telegram payment {lost} (100 XTR) is not on the ledger" in report.problems

    summary = await Reconciler(bot).run_pass()
    assert summary is not None
    assert (summary.credited, summary.refunds_recorded, summary.skipped) == (1, 0, 2)
    assert await entries(EntryKind.TOPUP) == {lost: 100}
    assert (await TopUpOrder.get(id=order.id)).status == OrderStatus.PAID

    # Refunded by Telegram support, its refund row labelled the other way.
    other = LABELS[1 - LABELS.index(label)]
    emulator.refund_elsewhere(TOKEN, lost, label=other)
    report = await check_ledger(await telegram_record(bot))
    assert report.problems == [f"Telegram refund of {lost} is not recorded"]

    summary = await Reconciler(bot).run_pass()
    assert summary is not None
    assert (summary.credited, summary.refunds_recorded) == (0, 1)
    assert await entries(EntryKind.REFUND) == {lost: -100}
    assert await get_balance(ALICE["id"]) == 0
    assert (await TopUpOrder.get(id=order.id)).status == OrderStatus.REFUNDED
    # Somebody's paid media and its refund: never on our ledger, counted in `check`.
    assert await get_balance(CAROL["id"]) == 0
    report = await check_ledger(await telegram_record(bot))
    assert report.ok, report.render()
    assert any("user:paid_media_payment 2" in note for note in report.notes)


async def test_a_refund_before_its_payment_was_seen_is_recorded_with_its_payment(
    db: str, emulator: BotApiEmulator, bot: Bot
) -> None:
    """Both updates lost, both rows unlabelled: the refund names our order."""
    emulator.set_sale_label("paid_media_payment")
    order = await open_order(Profile(BORIS["id"]), 70, ttl=3600, max_pending=9, per_minute=9)
    charge = emulator.charge(emulator.add_invoice(TOKEN, str(order.id), 70), BORIS, deliver=False)
    emulator.refund_elsewhere(TOKEN, charge)
    summary = await Reconciler(bot).run_pass()
    assert summary is not None
    assert (summary.credited, summary.refunds_recorded) == (1, 1)
    assert (await entries(EntryKind.TOPUP), await entries(EntryKind.REFUND)) == (
        {charge: 70},
        {charge: -70},
    )
    assert (await TopUpOrder.get(id=order.id)).status == OrderStatus.REFUNDED
    report = await check_ledger(await telegram_record(bot))
    assert report.ok, report.render()


async def test_history_from_before_deployment_whatever_its_refunds_say(
    db: str, emulator: BotApiEmulator, bot: Bot
) -> None:
    now = int(time.time())
    older = emulator.add_transaction(
        TOKEN,
        {
            "amount": 100,
            "date": now - 30 * DAY,
            "source": emulator.sale_partner(payer(ALICE), "legacy-1", "invoice_payment"),
        },
    )["id"]
    refunded = emulator.add_transaction(
        TOKEN,
        {
            "amount": 250,
            "date": now - 20 * DAY,
            "source": emulator.sale_partner(payer(BORIS), "legacy-2", "invoice_payment"),
        },
    )["id"]
    # Its refund then, labelled as a paid-media sale: it still nets the payment out.
    emulator.add_transaction(
        TOKEN,
        {
            "id": refunded,
            "amount": 250,
            "date": now - 19 * DAY,
            "receiver": emulator.sale_partner(payer(BORIS), "legacy-2", "paid_media_payment"),
        },
    )
    album = someones_paid_media(emulator, date=now - 10 * DAY)

    first = await Reconciler(bot).run_pass()
    assert first is not None
    assert [tx.id for tx in first.before_deployment] == [older]
    assert not await LedgerEntry.exists()
    report = await check_ledger(await telegram_record(bot))
    assert report.ok, report.render()
    assert any(note.startswith("1 Telegram payments (100 XTR)") for note in report.notes)
    assert not any(album in note for note in report.notes)

    plan = await plan_backfill(bot)
    assert ([tx.id for tx in plan.payments], plan.refunded) == ([older], 1)
    [(_, result)] = await backfill(plan.payments)
    assert str(getattr(result, "status", result)) == "credited"
    assert await entries(EntryKind.TOPUP) == {older: 100}

    # Backfilled, it is ours: its refund is recorded whatever its row says.
    emulator.refund_elsewhere(TOKEN, older, label="paid_media_payment")
    again = await Reconciler(bot).run_pass()
    assert again is not None
    assert again.refunds_recorded == 1
    assert await get_balance(ALICE["id"]) == 0
    report = await check_ledger(await telegram_record(bot))
    assert report.ok, report.render()
    assert not (await plan_backfill(bot)).payments
