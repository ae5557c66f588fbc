"""What an operator's backfill credits: payments from before deployment that the
ledger lacks and Telegram did not refund, whatever the refund row says."""

from __future__ import annotations

from datetime import timedelta

from models.reconciliation.backfill import backfill_charge, select_backfill
from models.reconciliation.sales import Books
from models.values import Charge
from tests.models.reconciliation.rows import (
    ALICE,
    AT,
    BORIS,
    DEPLOYED,
    HOUR,
    OURS,
    deployment,
    payment,
    refund,
)

DAY = 24 * HOUR


def test_old_payments_the_ledger_lacks_are_selected_oldest_first() -> None:
    newer = payment("b", 250, "legacy-2", date=AT - 20 * DAY, user_id=BORIS)
    older = payment("a", 100, "legacy-1", date=AT - 30 * DAY)
    backfilled = payment("c", 10, "legacy-3", date=AT - 25 * DAY)
    recent = payment("d", 30, str(OURS), date=AT - 40 * DAY)  # ours: never "before"
    plan = select_backfill(
        [newer, older, backfilled, recent], deployment(ours=30), Books(topups={"c"})
    )
    assert plan.deployed_at == DEPLOYED
    assert [tx.id for tx in plan.payments] == ["a", "b"]
    assert plan.refunded == 0
    since = select_backfill([newer, older], deployment(), Books(), DEPLOYED - timedelta(days=25))
    assert [tx.id for tx in since.payments] == ["b"]


def test_a_refunded_one_has_nothing_to_credit_whatever_its_refund_row_says() -> None:
    invoice_refund = payment("a", 100, "legacy-1", date=AT - 3 * DAY)
    unlabelled_refund = payment("b", 100, "legacy-2", date=AT - 2 * DAY)
    rows = [
        invoice_refund,
        unlabelled_refund,
        refund(invoice_refund),
        refund(unlabelled_refund, label="paid_media_payment"),
    ]
    plan = select_backfill(rows, deployment(), Books())
    assert (plan.payments, plan.refunded) == ([], 2)


def test_someones_paid_media_is_never_backfilled() -> None:
    album = payment("m", 30, "album-9", date=AT - DAY, label="paid_media_payment")
    assert select_backfill([album], deployment(), Books()).payments == []


def test_a_backfilled_payment_credits_what_its_buyer_paid() -> None:
    share = {"commission_per_mille": 200, "amount": 10}
    tx = payment("a", 40, "legacy-43", date=AT - DAY, affiliate=share)
    assert backfill_charge(tx) == Charge("a", ALICE, 50, "legacy-43")
