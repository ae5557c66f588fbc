"""Telegram's side of `check`: our payments and refunds whatever their label, the rest
counted by kind."""

from __future__ import annotations

from datetime import timedelta

from models.reconciliation.record import telegram_record
from models.reconciliation.sales import Books
from models.reconciliation.transactions import parse
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


def test_our_payments_and_refunds_are_counted_by_the_same_rules_as_reconciliation() -> None:
    invoice = payment("inv", 100, "campaign-1")
    unlabelled = payment("ours", 250, str(OURS), label="paid_media_payment")
    credited_unlabelled = payment("cred", 40, "campaign-2", label="paid_media_payment")
    someones = payment("album", 30, "album-9", label="paid_media_payment", user_id=BORIS)
    old = payment("old", 75, "legacy-1", date=AT - 24 * HOUR)
    rows = [
        invoice,
        unlabelled,
        credited_unlabelled,
        someones,
        old,
        refund(invoice, label="paid_media_payment"),
        refund(unlabelled),
        refund(someones),
        parse({"id": "w", "date": AT, "amount": 500, "receiver": {"type": "fragment"}}),
        parse({"id": "", "date": AT}),
    ]
    record = telegram_record(rows, deployment(ours=250), Books(topups={"cred"}))
    assert record.payments == {"inv": 100, "ours": 250, "cred": 40, "old": 75}
    assert record.refunds == {"inv", "ours"}
    assert record.before_deployment == {
        "old": (ALICE, 75, DEPLOYED.replace(microsecond=0) - timedelta(days=1))
    }
    # Someone's paid media and its refund are not compared, only counted.
    assert record.skipped == {"user:paid_media_payment": 2, "partner:fragment": 1}
    assert record.unreadable == ["transaction (no id): no id or date"]
    assert record.deployed_at == DEPLOYED


def test_an_affiliate_payment_is_compared_as_what_the_buyer_paid() -> None:
    share = {"commission_per_mille": 200, "amount": 10}
    record = telegram_record(
        [payment("a", 40, "legacy-43", affiliate=share)], deployment(), Books()
    )
    assert (record.payments, record.affiliate) == ({"a": 50}, {"a": (40, 10)})
