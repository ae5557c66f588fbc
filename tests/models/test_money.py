"""The money rules, on SQLite and PostgreSQL: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from models.invariants import check_ledger
from models.money import (
    Charge,
    CheckoutVerdict,
    CreditStatus,
    Profile,
    RateLimited,
    RefundStatus,
    apply_entry,
    check_checkout,
    credit_charge,
    expire_orders,
    fail_order,
    get_balance,
    open_order,
    record_refund,
    utcnow,
)
from models.tables import Anomaly, EntryKind, LedgerEntry, Notice, OrderStatus, TopUpOrder

ALICE = Profile(id=1001, username="alice", first_name="Alice", language_code="en")
BOB = Profile(id=1002, username="bob", first_name="Bob", language_code="ru")


async def new_order(user: Profile = ALICE, amount: int = 100, **limits: int) -> TopUpOrder:
    options = {"ttl": 3600, "max_pending": 1000, "per_minute": 1000, **limits}
    return await TopUpOrder.get(id=(await open_order(user, amount, **options)).id)


@pytest.fixture(autouse=True)
async def ledger_holds(db: str):
    """After every money test each balance equals the sum of its ledger."""
    yield
    report = await check_ledger()
    assert report.ok, report.render()


async def test_a_paid_order_credits_its_payer_and_is_marked_paid(db: str) -> None:
    order = await new_order()
    result = await credit_charge(Charge("ch-1", ALICE.id, 100, str(order.id)))
    assert result.status is CreditStatus.CREDITED
    assert result.balance == 100
    assert result.anomaly is None
    await order.refresh_from_db()
    assert order.status is OrderStatus.PAID
    assert order.telegram_payment_charge_id == "ch-1"
    assert order.paid_at is not None
    assert await Notice.filter(user_id=ALICE.id, kind="credited").count() == 1


async def test_fifty_concurrent_deliveries_of_one_charge_credit_once(db: str) -> None:
    order = await new_order()
    charge = Charge("ch-dup", ALICE.id, 100, str(order.id))
    results = await asyncio.gather(*(credit_charge(charge) for _ in range(50)))
    statuses = [r.status for r in results]
    assert statuses.count(CreditStatus.CREDITED) == 1
    assert statuses.count(CreditStatus.ALREADY_CREDITED) == 49
    assert await get_balance(ALICE.id) == 100
    assert await LedgerEntry.filter(telegram_payment_charge_id="ch-dup").count() == 1
    assert await Notice.filter(telegram_payment_charge_id="ch-dup").count() == 1


async def test_two_hundred_concurrent_charges_for_one_user_all_land(db: str) -> None:
    charges = [Charge(f"ch-{i}", ALICE.id, i + 1, f"no-order-{i}") for i in range(200)]
    results = await asyncio.gather(*(credit_charge(c) for c in charges))
    assert all(r.status is CreditStatus.CREDITED for r in results)
    assert await get_balance(ALICE.id) == sum(range(1, 201))


async def test_two_charges_of_one_order_both_land(db: str) -> None:
    order = await new_order()
    first = await credit_charge(Charge("ch-a", ALICE.id, 100, str(order.id)))
    second = await credit_charge(Charge("ch-b", ALICE.id, 100, str(order.id)))
    assert (first.status, second.status) == (CreditStatus.CREDITED, CreditStatus.CREDITED)
    assert second.anomaly is Anomaly.ORDER_ALREADY_PAID
    assert await get_balance(ALICE.id) == 200
    await order.refresh_from_db()
    assert order.telegram_payment_charge_id == "ch-a"


async def test_unknown_payload_is_credited_to_the_payer_as_an_anomaly(db: str) -> None:
    result = await credit_charge(Charge("ch-x", BOB.id, 42, "not-an-order"))
    assert result.status is CreditStatus.CREDITED
    assert result.anomaly is Anomaly.UNKNOWN_ORDER
    assert await get_balance(BOB.id) == 42
    entry = await LedgerEntry.get(telegram_payment_charge_id="ch-x")
    assert entry.anomaly == Anomaly.UNKNOWN_ORDER


async def test_a_stranger_paying_an_order_gets_the_stars_and_the_order_stays_pending(
    db: str,
) -> None:
    order = await new_order(ALICE)
    result = await credit_charge(Charge("ch-s", BOB.id, 100, str(order.id)))
    assert result.anomaly is Anomaly.PAYER_MISMATCH
    assert await get_balance(BOB.id) == 100
    assert await get_balance(ALICE.id) == 0
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING


async def test_payment_of_an_expired_order_is_credited_and_flagged(db: str) -> None:
    order = await new_order()
    await TopUpOrder.filter(id=order.id).update(expires_at=utcnow() - timedelta(seconds=1))
    assert await expire_orders() == 1
    result = await credit_charge(Charge("ch-e", ALICE.id, 100, str(order.id)))
    assert result.status is CreditStatus.CREDITED
    assert result.anomaly is Anomaly.ORDER_EXPIRED
    await order.refresh_from_db()
    assert order.status is OrderStatus.PAID


async def test_a_refund_is_recorded_once_however_often_it_is_reported(db: str) -> None:
    order = await new_order()
    await credit_charge(Charge("ch-r", ALICE.id, 100, str(order.id)))
    results = await asyncio.gather(*(record_refund("ch-r") for _ in range(20)))
    statuses = [r.status for r in results]
    assert statuses.count(RefundStatus.RECORDED) == 1
    assert statuses.count(RefundStatus.ALREADY_RECORDED) == 19
    assert await get_balance(ALICE.id) == 0
    await order.refresh_from_db()
    assert order.status is OrderStatus.REFUNDED
    assert order.refunded_at is not None


async def test_a_refund_of_a_charge_never_seen_records_the_payment_first(db: str) -> None:
    result = await record_refund("ch-lost", user_id=BOB.id, amount=250, payload="whatever")
    assert result.status is RefundStatus.RECORDED
    assert await get_balance(BOB.id) == 0
    kinds = sorted(
        await LedgerEntry.filter(telegram_payment_charge_id="ch-lost").values_list(
            "kind", flat=True
        )
    )
    assert kinds == [EntryKind.REFUND, EntryKind.TOPUP]


async def test_a_refund_of_an_unknown_charge_without_details_changes_nothing(db: str) -> None:
    result = await record_refund("ch-nobody")
    assert result.status is RefundStatus.UNKNOWN_CHARGE
    assert await LedgerEntry.all().count() == 0


async def test_development_credit_and_adjustment_are_ledger_rows(db: str) -> None:
    assert await apply_entry(ALICE.id, 500, EntryKind.DEV_CREDIT) == 500
    assert await apply_entry(ALICE.id, -200, EntryKind.ADJUSTMENT, note="support case") == 300
    assert await LedgerEntry.filter(user_id=ALICE.id).count() == 2
    with pytest.raises(ValueError, match="charge id"):
        await apply_entry(ALICE.id, 1, EntryKind.TOPUP)


class TestCheckout:
    async def test_a_pending_order_of_its_owner_is_approved(self, db: str) -> None:
        order = await new_order()
        assert await check_checkout(str(order.id), ALICE.id, "XTR", 100) is CheckoutVerdict.OK

    @pytest.mark.parametrize(
        ("payload", "payer", "currency", "amount", "verdict"),
        [
            ("garbage", ALICE.id, "XTR", 100, CheckoutVerdict.UNKNOWN_ORDER),
            (str(uuid.uuid4()), ALICE.id, "XTR", 100, CheckoutVerdict.UNKNOWN_ORDER),
            (None, BOB.id, "XTR", 100, CheckoutVerdict.NOT_OWNER),
            (None, ALICE.id, "USD", 100, CheckoutVerdict.WRONG_CURRENCY),
            (None, ALICE.id, "XTR", 99, CheckoutVerdict.WRONG_AMOUNT),
        ],
    )
    async def test_mismatches_are_rejected(
        self,
        db: str,
        payload: str | None,
        payer: int,
        currency: str,
        amount: int,
        verdict: CheckoutVerdict,
    ) -> None:
        order = await new_order()
        assert await check_checkout(payload or str(order.id), payer, currency, amount) is verdict

    async def test_an_order_past_its_expiry_is_rejected_before_the_sweep(self, db: str) -> None:
        order = await new_order()
        later = utcnow() + timedelta(hours=2)
        assert await check_checkout(str(order.id), ALICE.id, "XTR", 100, later) is (
            CheckoutVerdict.EXPIRED
        )

    async def test_paid_refunded_and_failed_orders_are_rejected(self, db: str) -> None:
        paid, refunded, failed = await new_order(), await new_order(), await new_order()
        await credit_charge(Charge("p", ALICE.id, 100, str(paid.id)))
        await credit_charge(Charge("r", ALICE.id, 100, str(refunded.id)))
        await record_refund("r")
        await fail_order(failed.id)
        verdicts = [
            await check_checkout(str(o.id), ALICE.id, "XTR", 100) for o in (paid, refunded, failed)
        ]
        assert verdicts == [
            CheckoutVerdict.ALREADY_PAID,
            CheckoutVerdict.REFUNDED,
            CheckoutVerdict.FAILED,
        ]


class TestOrderLimits:
    async def test_too_many_pending_orders_are_refused(self, db: str) -> None:
        for _ in range(3):
            await new_order(max_pending=3)
        with pytest.raises(RateLimited) as refused:
            await new_order(max_pending=3)
        assert refused.value.reason == "too_many_pending"
        assert await TopUpOrder.filter(user_id=ALICE.id).count() == 3

    async def test_too_many_orders_a_minute_are_refused_with_a_retry_time(self, db: str) -> None:
        for _ in range(4):
            order = await new_order(per_minute=4)
            await fail_order(order.id)
        with pytest.raises(RateLimited) as refused:
            await new_order(per_minute=4)
        assert refused.value.reason == "too_many_requests"
        assert 1 <= refused.value.retry_after <= 61

    async def test_concurrent_requests_cannot_race_past_the_pending_limit(self, db: str) -> None:
        results = await asyncio.gather(
            *(new_order(max_pending=5) for _ in range(20)), return_exceptions=True
        )
        assert sum(isinstance(r, TopUpOrder) for r in results) == 5
        assert all(isinstance(r, TopUpOrder | RateLimited) for r in results)
