"""The money rules, on SQLite and PostgreSQL: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from models.infra.sql import execute
from models.kinds import Anomaly, EntryKind, OrderStatus
from models.ledger.credits import CreditStatus, credit_charge
from models.ledger.entries import apply_entry
from models.ledger.refunds import RefundStatus, record_refund
from models.orders.limits import PAYING_WINDOW
from models.orders.opening import expire_orders, fail_order, mark_checkout, open_order
from models.orders.terms import check_checkout
from models.queries.accounts import get_balance
from models.queries.invariants import check_ledger
from models.refusals import Refusal, Refused
from models.tables import LedgerEntry, Notice, TopUpOrder
from models.values import Charge, Profile, utcnow
from tests.databases import through_pgbouncer
from tests.helpers import cid
from tests.models.buyers import ALICE, BOB


async def new_order(
    user: Profile = ALICE, amount: int = 100, now: datetime | None = None, **limits: int
) -> TopUpOrder:
    options = {"ttl": 3600, "max_pending": 1000, "per_minute": 1000, **limits}
    return await TopUpOrder.get(id=(await open_order(user, amount, now=now, **options)).id)


async def verdict(
    payload: str, payer: int, currency: str, amount: int, now: datetime | None = None
) -> Refusal | None:
    """What a pre-checkout of this is told: None when it is approved."""
    try:
        await check_checkout(payload, payer, currency, amount, now)
    except Refused as refused:
        return refused.code
    return None


pytestmark = pytest.mark.usefixtures("ledger_holds")


@through_pgbouncer
async def test_a_paid_order_credits_its_payer_and_is_marked_paid(db: str) -> None:
    order = await new_order()
    result = await credit_charge(Charge(cid("1"), ALICE.id, 100, str(order.id)))
    assert result.status is CreditStatus.CREDITED
    assert result.balance == 100
    assert result.anomaly is None
    await order.refresh_from_db()
    assert order.status is OrderStatus.PAID
    assert order.telegram_payment_charge_id == cid("1")
    assert order.paid_at is not None
    assert await Notice.filter(user_id=ALICE.id, kind="credited").count() == 1


@through_pgbouncer
async def test_fifty_concurrent_deliveries_of_one_charge_credit_once(db: str) -> None:
    order = await new_order()
    charge = Charge(cid("dup"), ALICE.id, 100, str(order.id))
    results = await asyncio.gather(*(credit_charge(charge) for _ in range(50)))
    statuses = [r.status for r in results]
    assert statuses.count(CreditStatus.CREDITED) == 1
    assert statuses.count(CreditStatus.ALREADY_CREDITED) == 49
    assert await get_balance(ALICE.id) == 100
    assert await LedgerEntry.filter(telegram_payment_charge_id=cid("dup")).count() == 1
    assert await Notice.filter(telegram_payment_charge_id=cid("dup")).count() == 1


@through_pgbouncer
async def test_two_hundred_concurrent_charges_for_one_user_all_land(db: str) -> None:
    charges = [Charge(cid(f"{i}"), ALICE.id, i + 1, f"no-order-{i}") for i in range(200)]
    results = await asyncio.gather(*(credit_charge(c) for c in charges))
    assert all(r.status is CreditStatus.CREDITED for r in results)
    assert await get_balance(ALICE.id) == sum(range(1, 201))


async def test_two_charges_of_one_order_both_land(db: str) -> None:
    order = await new_order()
    first = await credit_charge(Charge(cid("a"), ALICE.id, 100, str(order.id)))
    second = await credit_charge(Charge(cid("b"), ALICE.id, 100, str(order.id)))
    assert (first.status, second.status) == (CreditStatus.CREDITED, CreditStatus.CREDITED)
    assert second.anomaly is Anomaly.ORDER_ALREADY_PAID
    assert await get_balance(ALICE.id) == 200
    await order.refresh_from_db()
    assert order.telegram_payment_charge_id == cid("a")


async def test_unknown_payload_is_credited_to_the_payer_as_an_anomaly(db: str) -> None:
    result = await credit_charge(Charge(cid("x"), BOB.id, 42, "not-an-order"))
    assert result.status is CreditStatus.CREDITED
    assert result.anomaly is Anomaly.UNKNOWN_ORDER
    assert await get_balance(BOB.id) == 42
    entry = await LedgerEntry.get(telegram_payment_charge_id=cid("x"))
    assert entry.anomaly == Anomaly.UNKNOWN_ORDER


async def test_a_stranger_paying_an_order_gets_the_stars_and_the_order_stays_pending(
    db: str,
) -> None:
    order = await new_order(ALICE)
    result = await credit_charge(Charge(cid("s"), BOB.id, 100, str(order.id)))
    assert result.anomaly is Anomaly.PAYER_MISMATCH
    assert await get_balance(BOB.id) == 100
    assert await get_balance(ALICE.id) == 0
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING


async def test_payment_of_an_expired_order_is_credited_and_flagged(db: str) -> None:
    order = await new_order()
    await TopUpOrder.filter(id=order.id).update(expires_at=utcnow() - timedelta(seconds=1))
    assert await expire_orders() == 1
    result = await credit_charge(Charge(cid("e"), ALICE.id, 100, str(order.id)))
    assert result.status is CreditStatus.CREDITED
    assert result.anomaly is Anomaly.ORDER_EXPIRED
    await order.refresh_from_db()
    assert order.status is OrderStatus.PAID


@through_pgbouncer
async def test_a_refund_is_recorded_once_however_often_it_is_reported(db: str) -> None:
    order = await new_order()
    await credit_charge(Charge(cid("r"), ALICE.id, 100, str(order.id)))
    results = await asyncio.gather(*(record_refund(cid("r")) for _ in range(20)))
    statuses = [r.status for r in results]
    assert statuses.count(RefundStatus.RECORDED) == 1
    assert statuses.count(RefundStatus.ALREADY_RECORDED) == 19
    assert await get_balance(ALICE.id) == 0
    await order.refresh_from_db()
    assert order.status is OrderStatus.REFUNDED
    assert order.refunded_at is not None


@through_pgbouncer
async def test_a_refund_of_a_charge_never_seen_records_the_payment_first(db: str) -> None:
    result = await record_refund(cid("lost"), user_id=BOB.id, amount=250, payload="whatever")
    assert result.status is RefundStatus.RECORDED
    assert await get_balance(BOB.id) == 0
    kinds: list[Any] = sorted(
        await LedgerEntry.filter(telegram_payment_charge_id=cid("lost")).values_list(
            "kind", flat=True
        )
    )
    assert kinds == [EntryKind.REFUND, EntryKind.TOPUP]


async def test_a_refund_reported_before_its_payment_leaves_the_order_refunded(db: str) -> None:
    order = await new_order(ALICE)
    await record_refund(cid("early"), user_id=ALICE.id, amount=100, payload=str(order.id))
    await order.refresh_from_db()
    assert order.status is OrderStatus.REFUNDED
    assert order.telegram_payment_charge_id == cid("early")
    assert await verdict(str(order.id), ALICE.id, "XTR", 100) is Refusal.REFUNDED
    # The payment update arriving late changes nothing more.
    late = await credit_charge(Charge(cid("early"), ALICE.id, 100, str(order.id)))
    assert late.status is CreditStatus.ALREADY_CREDITED
    assert await get_balance(ALICE.id) == 0


async def test_an_early_refund_never_touches_someone_elses_order(db: str) -> None:
    order = await new_order(ALICE)
    await record_refund(cid("bob"), user_id=BOB.id, amount=100, payload=str(order.id))
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING
    assert order.telegram_payment_charge_id is None


async def test_a_charge_in_another_currency_is_recorded_but_never_credited_as_stars(
    db: str,
) -> None:
    order = await new_order(ALICE)
    charge = Charge(cid("usd"), ALICE.id, 100, str(order.id), currency="USD")
    results = await asyncio.gather(*(credit_charge(charge) for _ in range(5)))
    assert sorted(r.status for r in results).count(CreditStatus.CREDITED) == 1
    assert {r.amount for r in results} == {0}
    assert await get_balance(ALICE.id) == 0
    entry = await LedgerEntry.get(telegram_payment_charge_id=cid("usd"))
    assert (entry.amount, entry.anomaly) == (0, Anomaly.CURRENCY)
    assert entry.note == "100 USD not credited as Stars"
    assert await Notice.all().count() == 0
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING
    report = await check_ledger()
    assert report.ok
    assert any(cid("usd") in note and "100 USD" in note for note in report.notes)


async def test_a_refund_of_a_wrong_amount_charge_leaves_its_order_payable(db: str) -> None:
    order = await new_order(ALICE, 100)
    await credit_charge(Charge(cid("short"), ALICE.id, 60, str(order.id)))
    await record_refund(cid("short"))
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING
    assert await verdict(str(order.id), ALICE.id, "XTR", 100) is None


async def test_a_refund_in_another_currency_is_never_booked_as_stars(db: str) -> None:
    order = await new_order(ALICE)
    # Its payment update was lost: the refund is the first the ledger hears of it.
    await record_refund(
        cid("eur"), user_id=ALICE.id, amount=700, payload=str(order.id), currency="EUR"
    )
    entries = await LedgerEntry.filter(telegram_payment_charge_id=cid("eur")).values_list(
        "kind", "amount"
    )
    assert sorted(entries) == [(EntryKind.REFUND, 0), (EntryKind.TOPUP, 0)]
    assert await get_balance(ALICE.id) == 0
    assert await Notice.all().count() == 0
    await order.refresh_from_db()
    assert order.status is OrderStatus.PENDING


async def test_a_reported_refund_always_debits_even_below_zero(db: str) -> None:
    order = await new_order(ALICE)
    await credit_charge(Charge(cid("spent"), ALICE.id, 100, str(order.id)))
    await apply_entry(ALICE.id, -80, EntryKind.ADJUSTMENT, note="spent in the app")
    result = await record_refund(cid("spent"))
    assert result.status is RefundStatus.RECORDED
    assert await get_balance(ALICE.id) == -80


async def test_a_refund_of_an_unknown_charge_without_details_changes_nothing(db: str) -> None:
    with pytest.raises(Refused) as refused:
        await record_refund(cid("nobody"))
    assert refused.value.code is Refusal.UNKNOWN_CHARGE
    assert await LedgerEntry.all().count() == 0


async def test_development_credit_and_adjustment_are_ledger_rows(db: str) -> None:
    assert await apply_entry(ALICE.id, 500, EntryKind.DEV_CREDIT) == 500
    assert await apply_entry(ALICE.id, -200, EntryKind.ADJUSTMENT, note="support case") == 300
    assert await LedgerEntry.filter(user_id=ALICE.id).count() == 2
    with pytest.raises(ValueError, match="charge id"):
        await apply_entry(ALICE.id, 1, EntryKind.TOPUP)


class TestCheckout:
    @through_pgbouncer
    async def test_a_pending_order_of_its_owner_is_approved(self, db: str) -> None:
        order = await new_order()
        assert await verdict(str(order.id), ALICE.id, "XTR", 100) is None

    @pytest.mark.parametrize(
        ("payload", "payer", "currency", "amount", "expected"),
        [
            ("garbage", ALICE.id, "XTR", 100, Refusal.UNKNOWN_ORDER),
            (str(uuid.uuid4()), ALICE.id, "XTR", 100, Refusal.UNKNOWN_ORDER),
            (None, BOB.id, "XTR", 100, Refusal.NOT_OWNER),
            (None, ALICE.id, "USD", 100, Refusal.WRONG_CURRENCY),
            (None, ALICE.id, "XTR", 99, Refusal.WRONG_AMOUNT),
        ],
    )
    async def test_mismatches_are_rejected(
        self,
        db: str,
        payload: str | None,
        payer: int,
        currency: str,
        amount: int,
        expected: Refusal,
    ) -> None:
        order = await new_order()
        assert await verdict(payload or str(order.id), payer, currency, amount) is expected

    async def test_an_order_past_its_expiry_is_rejected_before_the_sweep(self, db: str) -> None:
        order = await new_order()
        later = utcnow() + timedelta(hours=2)
        assert await verdict(str(order.id), ALICE.id, "XTR", 100, later) is (Refusal.EXPIRED)

    async def test_paid_refunded_and_failed_orders_are_rejected(self, db: str) -> None:
        # Each settled before the next is opened, or the next would be the same order.
        paid = await new_order()
        await credit_charge(Charge(cid("p"), ALICE.id, 100, str(paid.id)))
        refunded = await new_order()
        await credit_charge(Charge(cid("r"), ALICE.id, 100, str(refunded.id)))
        await record_refund(cid("r"))
        failed = await new_order()
        await fail_order(failed.id)
        verdicts = [
            await verdict(str(o.id), ALICE.id, "XTR", 100) for o in (paid, refunded, failed)
        ]
        assert verdicts == [
            Refusal.ALREADY_PAID,
            Refusal.REFUNDED,
            Refusal.FAILED,
        ]


class TestOrderLimits:
    async def test_buying_the_same_amount_again_gives_back_the_open_order(self, db: str) -> None:
        first = await open_order(ALICE, 100, ttl=60, max_pending=3, per_minute=10)
        later = utcnow() + timedelta(seconds=30)
        again = await open_order(ALICE, 100, ttl=60, max_pending=3, per_minute=10, now=later)
        assert (again.id, again.reused) == (first.id, True)
        assert again.expires_at == later + timedelta(seconds=60)
        stored = await TopUpOrder.get(id=first.id)
        assert stored.expires_at == again.expires_at  # a full life again from the last press
        assert await TopUpOrder.filter(user_id=ALICE.id).count() == 1

    async def test_paid_failed_and_expired_orders_are_never_given_back(self, db: str) -> None:
        paid = await new_order()
        await credit_charge(Charge(cid("paid"), ALICE.id, 100, str(paid.id)))
        failed = await new_order()
        await fail_order(failed.id)
        expired = await new_order()
        await TopUpOrder.filter(id=expired.id).update(expires_at=utcnow())
        fresh = await new_order()
        assert len({paid.id, failed.id, expired.id, fresh.id}) == 4

    async def test_past_the_open_limit_the_oldest_orders_are_retired(self, db: str) -> None:
        orders = [await new_order(amount=amount, max_pending=3) for amount in (1, 2, 3, 4, 5)]
        for order in orders:
            await order.refresh_from_db()
        assert [o.status for o in orders] == [OrderStatus.EXPIRED] * 2 + [OrderStatus.PENDING] * 3
        # A retired link fails pre-checkout politely, as an expired one.
        assert await verdict(str(orders[0].id), ALICE.id, "XTR", 1) is (Refusal.EXPIRED)
        assert await verdict(str(orders[4].id), ALICE.id, "XTR", 5) is None

    async def test_too_many_orders_a_minute_are_refused_with_the_real_wait(self, db: str) -> None:
        start = utcnow()
        for second, amount in enumerate((1, 2, 3, 4)):
            await new_order(amount=amount, per_minute=4, now=start + timedelta(seconds=second))
        with pytest.raises(Refused) as refused:
            await new_order(amount=9, per_minute=4, now=start + timedelta(seconds=20.5))
        assert refused.value.code is Refusal.RATE_LIMITED
        assert (
            refused.value.facts["retry_after"] == 40
        )  # the first order leaves the window at 60 s
        # Buying an amount already open is no new order, so the limit does not apply.
        assert (await new_order(amount=2, per_minute=4, now=start + timedelta(seconds=21))).id

    async def test_an_order_being_paid_is_not_given_back_nor_retired(self, db: str) -> None:
        paying = await new_order(amount=100, max_pending=1)
        await mark_checkout(paying.id)
        again = await new_order(amount=100, max_pending=1)
        assert again.id != paying.id
        await paying.refresh_from_db()
        assert paying.status is OrderStatus.PENDING  # Telegram may be taking its Stars
        # Long after the checkout nothing came of it: it is an open order like any.
        later = utcnow() + PAYING_WINDOW + timedelta(seconds=1)
        assert (await new_order(amount=100, now=later)).id in {again.id, paying.id}

    async def test_a_failed_link_does_not_fail_an_order_given_back_meanwhile(
        self, db: str
    ) -> None:
        first = await open_order(ALICE, 100, ttl=60, max_pending=5, per_minute=10)
        await open_order(ALICE, 100, ttl=120, max_pending=5, per_minute=10)  # a second press
        await fail_order(first.id, first.expires_at)  # the first press's link failed
        assert (await TopUpOrder.get(id=first.id)).status is OrderStatus.PENDING

    async def test_a_failed_link_never_fails_an_order_whose_checkout_was_approved(
        self, db: str
    ) -> None:
        """Two presses answered with one expiry (orders opened in one batch) leave the
        expiry no guard: the approved checkout is."""
        order = await open_order(ALICE, 100, ttl=60, max_pending=5, per_minute=10)
        await mark_checkout(order.id)  # the other press's link is being paid
        await fail_order(order.id, order.expires_at)
        assert (await TopUpOrder.get(id=order.id)).status is OrderStatus.PENDING

    @through_pgbouncer
    async def test_an_order_a_payment_is_locking_is_not_given_back(self, db: str) -> None:
        """PostgreSQL re-checks only the outer WHERE of an UPDATE that waited for a lock:
        here the failed invoice link of another request is marking the order."""
        order = await new_order(amount=100)
        locked, release = asyncio.Event(), asyncio.Event()

        async def pay() -> None:
            async with in_transaction() as tx:
                await execute(
                    tx, "UPDATE topup_orders SET status = 'failed' WHERE id = $1", order.id
                )
                locked.set()
                await release.wait()

        payer = asyncio.create_task(pay())
        await locked.wait()
        opener = asyncio.create_task(new_order(amount=100))
        await asyncio.sleep(0.3)
        release.set()
        await payer
        assert (await opener).id != order.id
        await order.refresh_from_db()
        assert order.status is OrderStatus.FAILED

    @through_pgbouncer
    async def test_concurrent_requests_for_one_amount_make_one_order(self, db: str) -> None:
        orders = await asyncio.gather(*(new_order(max_pending=5) for _ in range(20)))
        assert len({order.id for order in orders}) == 1
        assert await TopUpOrder.filter(user_id=ALICE.id).count() == 1

    @through_pgbouncer
    async def test_concurrent_requests_cannot_race_past_the_open_limit(self, db: str) -> None:
        await asyncio.gather(*(new_order(amount=a, max_pending=5) for a in range(1, 21)))
        pending = await TopUpOrder.filter(user_id=ALICE.id, status=OrderStatus.PENDING).count()
        assert pending == 5
        assert await TopUpOrder.filter(user_id=ALICE.id).count() == 20
