"""What "before deployment" means, said once for reconciliation, check, backfill and
the live payment handler."""

from __future__ import annotations

from datetime import timedelta

from models.reconciliation.deployment import named_orders, paid_at, paid_before_deployment
from tests.models.reconciliation.rows import (
    AT,
    DEPLOYED,
    HOUR,
    OURS,
    deployment,
    payment,
    refund,
)


def test_a_payment_before_the_cut_off_is_before_deployment_unless_it_is_for_our_order() -> None:
    earlier = DEPLOYED - timedelta(hours=1)
    assert paid_before_deployment(earlier, DEPLOYED, ours=False)
    assert not paid_before_deployment(earlier, DEPLOYED, ours=True)
    assert not paid_before_deployment(DEPLOYED + timedelta(seconds=1), DEPLOYED, ours=False)


def test_telegram_dates_are_whole_seconds_so_the_deployment_second_counts_as_after() -> None:
    """Deployed at 12:00:00.5; a payment Telegram dates 12:00:00 was made in that second."""
    same_second = DEPLOYED.replace(microsecond=0)
    assert not paid_before_deployment(same_second, DEPLOYED, ours=False)
    assert paid_before_deployment(same_second - timedelta(seconds=1), DEPLOYED, ours=False)


def test_a_row_is_judged_by_its_date_and_its_payload() -> None:
    cut = deployment(ours=100)
    old_foreign = payment("a", 100, "legacy-1", date=AT - HOUR)
    old_ours = payment("b", 100, str(OURS), date=AT - HOUR)  # dates can be wrong; orders not
    old_ours_paid_media = payment("c", 100, str(OURS), date=AT - HOUR, label="paid_media_payment")
    assert cut.before(old_foreign)
    assert not cut.before(old_ours)
    assert not cut.before(old_ours_paid_media)
    assert not cut.before(payment("d", 100, "legacy-2", date=AT))
    assert paid_at(old_foreign) == DEPLOYED.replace(microsecond=0) - timedelta(hours=1)


def test_orders_are_named_by_the_payloads_of_either_label_and_either_direction() -> None:
    paid = payment("a", 1, str(OURS), label="paid_media_payment")
    rows = [paid, refund(paid), payment("b", 1, "not-an-order"), payment("c", 1, "")]
    assert named_orders(rows) == {OURS}
    cut = deployment(ours=70)
    assert (cut.order_amount(paid), cut.order_amount(rows[2])) == (70, None)
