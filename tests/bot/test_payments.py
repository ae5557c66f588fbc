"""The payment flow through real aiogram polling: checkout answers and exactly-once credits."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Literal

import pytest

from models.kinds import Anomaly, OrderStatus
from models.tables import LedgerEntry, Notice, TopUpOrder
from models.values import utcnow
from tests.databases import through_pgbouncer
from tests.emulator import ChatFault, Fault
from tests.helpers import ALICE, BORIS, TOKEN
from tests.system import System


@through_pgbouncer
async def test_a_full_purchase_credits_the_balance_and_confirms_it(system: System) -> None:
    order = await system.order(ALICE, 250)
    outcome = await system.emulator.pay(order["invoice_url"], ALICE)
    assert outcome.status == "paid"
    await system.settle()
    assert await system.status(ALICE, order["payment_id"]) == "paid"
    assert await system.balance(ALICE) == 250
    [confirmation] = await system.replies(ALICE)
    assert confirmation == "Payment received: 250 ⭐ added. Your balance is now 250 ⭐."
    entry = await LedgerEntry.get(telegram_payment_charge_id=outcome.charge_id)
    assert (entry.amount, entry.kind, entry.anomaly) == (250, "topup", None)


async def test_the_confirmation_is_in_russian_for_russian_users(system: System) -> None:
    order = await system.order(BORIS, 100)
    await system.emulator.pay(order["invoice_url"], BORIS)
    [confirmation] = await system.replies(BORIS)
    assert confirmation == "Платёж получен: начислено 100 ⭐. Ваш баланс: 100 ⭐."


class TestPreCheckout:
    async def test_a_stranger_cannot_pay_someone_elses_invoice(self, system: System) -> None:
        order = await system.order(ALICE)
        outcome = await system.emulator.checkout(order["invoice_url"], BORIS)
        assert outcome.status == "rejected"
        assert outcome.error_message == (
            "Этот счёт создан для другого аккаунта. Пожалуйста, создайте свой в приложении."
        )

    async def test_an_approved_order_is_not_given_back_to_buy_again(self, system: System) -> None:
        """Telegram is taking its Stars: Buy again while the payment is on its way (the
        worker down, the update lost) must open a new order, not pay this one twice."""
        first = await system.order(ALICE, 250)
        outcome = await system.emulator.checkout(first["invoice_url"], ALICE)
        assert outcome.status == "paid"  # approved; the charge itself never comes here
        await system.settle()
        assert (await TopUpOrder.get(id=first["payment_id"])).checkout_at is not None
        again = await system.order(ALICE, 250)
        assert again["payment_id"] != first["payment_id"]

    async def test_an_expired_order_is_rejected_with_a_clear_message(self, system: System) -> None:
        order = await system.order(ALICE)
        await TopUpOrder.filter(id=order["payment_id"]).update(
            expires_at=utcnow() - timedelta(seconds=1)
        )
        outcome = await system.emulator.checkout(order["invoice_url"], ALICE)
        assert outcome.status == "rejected"
        assert (
            outcome.error_message
            == "This invoice has expired. Please create a new one in the app."
        )

    async def test_a_paid_order_says_it_is_paid(self, system: System) -> None:
        order = await system.order(ALICE)
        await system.emulator.pay(order["invoice_url"], ALICE)
        await system.settle()
        outcome = await system.emulator.checkout(order["invoice_url"], ALICE)
        assert outcome.status == "rejected"
        assert "already been paid" in (outcome.error_message or "")

    async def test_an_unknown_payload_is_rejected(self, system: System) -> None:
        link = await system.worker.bot.create_invoice_link(
            title="x",
            description="x",
            payload=str(uuid.uuid4()),
            currency="XTR",
            prices=[{"label": "x", "amount": 100}],  # type: ignore[list-item]
        )
        outcome = await system.emulator.checkout(link, ALICE)
        assert outcome.status == "rejected"
        assert "not one of ours" in (outcome.error_message or "")

    async def test_a_wrong_amount_is_rejected(self, system: System) -> None:
        order = await system.order(ALICE, 100)
        system.emulator.invoice(order["invoice_url"])["amount"] = 50
        outcome = await system.emulator.checkout(order["invoice_url"], ALICE)
        assert outcome.status == "rejected"
        assert "amount does not match" in (outcome.error_message or "")

    async def test_a_hanging_database_still_gets_an_answer_in_time(
        self, system: System, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def hangs(*args: object, **kwargs: object) -> None:
            await asyncio.sleep(3600)

        # A database that never answers: the check waits, the deadline does not.
        monkeypatch.setattr("bot.handlers.payments.check_checkout", hangs)
        order = await system.order(ALICE)
        started = time.monotonic()
        outcome = await system.emulator.checkout(order["invoice_url"], ALICE)
        assert outcome.status == "rejected"
        assert outcome.error_message == (
            "We could not check this order just now. Please try again in a minute."
        )
        assert outcome.answer_seconds is not None
        assert outcome.answer_seconds < 10
        assert time.monotonic() - started < 10

    async def test_a_flaky_answer_call_is_retried_before_the_deadline(
        self, system: System
    ) -> None:
        system.emulator.set_fault("answerPreCheckoutQuery", Fault("error", status=502, times=2))
        order = await system.order(ALICE)
        outcome = await system.emulator.checkout(order["invoice_url"], ALICE)
        assert outcome.status == "paid"


class TestCrediting:
    @through_pgbouncer
    async def test_five_deliveries_of_one_payment_credit_once(self, system: System) -> None:
        order = await system.order(ALICE, 100)
        outcome = await system.emulator.pay(order["invoice_url"], ALICE, repeat=5)
        await system.settle()
        assert await system.balance(ALICE) == 100
        assert await LedgerEntry.filter(telegram_payment_charge_id=outcome.charge_id).count() == 1
        await asyncio.sleep(0.3)
        assert len(system.emulator.messages_to(TOKEN, ALICE["id"])) == 1

    async def test_two_charges_of_one_link_credit_twice(self, system: System) -> None:
        order = await system.order(ALICE, 100)
        outcomes = await system.emulator.pay_twice(order["invoice_url"], ALICE)
        assert [o.status for o in outcomes] == ["paid", "paid"]
        await system.settle()
        assert await system.balance(ALICE) == 200
        anomalies = await LedgerEntry.filter(user_id=ALICE["id"]).values_list("anomaly", flat=True)
        assert sorted(map(str, anomalies)) == sorted(map(str, [None, Anomaly.ORDER_ALREADY_PAID]))

    async def test_an_unknown_payload_is_credited_to_its_payer(self, system: System) -> None:
        link = await system.worker.bot.create_invoice_link(
            title="x",
            description="x",
            payload="legacy-payload",
            currency="XTR",
            prices=[{"label": "x", "amount": 70}],  # type: ignore[list-item]
        )
        system.emulator.charge(link, BORIS)  # Telegram took it without asking us
        await system.settle()
        entry = await LedgerEntry.get(user_id=BORIS["id"])
        assert (entry.amount, entry.anomaly) == (70, Anomaly.UNKNOWN_ORDER)
        assert await system.balance(BORIS) == 70

    async def test_a_flood_wait_delays_the_confirmation_but_not_the_credit(
        self, system: System
    ) -> None:
        system.emulator.set_fault("sendMessage", Fault("retry_after", retry_after=2, times=1))
        order = await system.order(ALICE, 100)
        started = time.monotonic()
        await system.emulator.pay(order["invoice_url"], ALICE)
        await system.settle()
        assert await system.balance(ALICE) == 100
        assert time.monotonic() - started < 1.5
        [confirmation] = await system.replies(ALICE)
        assert time.monotonic() - started >= 2
        assert "100 ⭐" in confirmation

    @pytest.mark.parametrize("kind", ["blocked", "not_found"])
    async def test_a_confirmation_telegram_cannot_deliver_is_given_up_and_the_credit_stands(
        self, system: System, kind: Literal["blocked", "not_found"]
    ) -> None:
        system.emulator.set_chat_fault(TOKEN, ALICE["id"], ChatFault(kind))
        order = await system.order(ALICE, 100)
        await system.emulator.pay(order["invoice_url"], ALICE)
        await system.settle()
        assert await system.balance(ALICE) == 100
        deadline = time.monotonic() + 10
        while (notice := await Notice.get(user_id=ALICE["id"])).sent_at is None:
            assert time.monotonic() < deadline, "the confirmation was not given up"
            await asyncio.sleep(0.05)
        assert notice.attempts == 0  # given up at the first answer, never retried
        assert system.emulator.messages_to(TOKEN, ALICE["id"]) == []

    async def test_order_state_after_payment(self, system: System) -> None:
        order = await system.order(ALICE, 100)
        outcome = await system.emulator.pay(order["invoice_url"], ALICE)
        await system.settle()
        stored = await TopUpOrder.get(id=order["payment_id"])
        assert stored.status is OrderStatus.PAID
        assert stored.telegram_payment_charge_id == outcome.charge_id
