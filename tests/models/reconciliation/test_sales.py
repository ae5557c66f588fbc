"""Which rows are our payments and refunds, whatever the real server labels them, and
what each credits."""

from __future__ import annotations

from typing import Any

import pytest

from models.reconciliation.sales import Books, Role, View, charge_of, credit_amount, ledger_ids
from models.reconciliation.transactions import parse
from models.values import Charge
from tests.models.reconciliation.rows import (
    ALICE,
    AT,
    BORIS,
    HOUR,
    OURS,
    deployment,
    payment,
    refund,
)

LABELS = ["invoice_payment", "paid_media_payment"]


def role(
    tx: Any, *, books: Books | None = None, rows: list[Any] | None = None, **orders: int
) -> Role:
    view = View.of(rows or [tx], deployment(**orders), books or Books())
    return view.role(tx)


@pytest.mark.parametrize("label", LABELS)
def test_a_payment_for_our_order_is_ours_whatever_its_label(label: Any) -> None:
    paid = payment("c1", 100, str(OURS), label=label)
    assert role(paid, ours=100) is Role.PAYMENT
    assert role(refund(paid), ours=100) is Role.REFUND


def test_an_invoice_payment_is_always_looked_at_and_a_paid_media_one_only_if_ours() -> None:
    """Every invoice on the token is the bot's (ours, or from before deployment); a
    paid-media sale for no order of ours is someone's purchase of paid media."""
    assert role(payment("c1", 30, "legacy-1")) is Role.PAYMENT
    media = payment("c2", 30, "album-9", label="paid_media_payment")
    bare = payment("c3", 30, "", label="paid_media_payment")
    for row in (media, bare):
        assert role(row, ours=100) is Role.OTHER
        assert role(refund(row), ours=100) is Role.OTHER  # its refund is no business of ours


def test_a_paid_media_row_whose_charge_we_credited_is_ours() -> None:
    """Credited from its successful_payment (which only invoices send), whatever the
    payload: its row and its refund are a payment and a refund of ours."""
    media = payment("c1", 30, "campaign-7", label="paid_media_payment")
    books = Books(topups={"c1"})
    assert role(media, books=books) is Role.PAYMENT
    assert role(refund(media), books=books) is Role.REFUND


@pytest.mark.parametrize(("paid_as", "refunded_as"), [(a, b) for a in LABELS for b in LABELS])
def test_a_refund_of_our_charge_is_recognised_whatever_either_row_says(
    paid_as: Any, refunded_as: Any
) -> None:
    paid = payment("c1", 100, str(OURS), label=paid_as)
    back = refund(paid, label=refunded_as)
    # Seen together, credited before, or by its payload: each is enough.
    assert role(back, rows=[paid, back], ours=100) is Role.REFUND
    assert role(back, books=Books(topups={"c1"})) is Role.REFUND
    assert role(back, ours=100) is Role.REFUND


def test_any_outgoing_row_to_a_user_with_a_credited_charges_id_is_its_refund() -> None:
    gift_shaped = parse(
        {
            "id": "c1",
            "date": AT + HOUR,
            "amount": 100,
            "receiver": {
                "type": "user",
                "transaction_type": "stars_return",
                "user": {"id": ALICE},
            },
        }
    )
    assert role(gift_shaped, books=Books(topups={"c1"})) is Role.REFUND
    assert role(gift_shaped) is Role.OTHER
    # Not to a user: never a refund, whatever its id.
    withdrawal = parse({"id": "c1", "date": 1, "amount": 100, "receiver": {"type": "fragment"}})
    assert role(withdrawal, books=Books(topups={"c1"})) is Role.OTHER


def test_an_unreadable_paid_media_row_matters_only_when_it_is_ours() -> None:
    broken = parse(
        {
            "id": "c1",
            "date": AT + HOUR,
            "amount": "12",
            "source": {
                "type": "user",
                "transaction_type": "paid_media_payment",
                "user": {"id": BORIS},
                "paid_media": [],
                "paid_media_payload": str(OURS),
            },
        }
    )
    assert role(broken, ours=12) is Role.UNREADABLE
    assert role(broken) is Role.OTHER
    assert role(parse({"id": "", "date": 1})) is Role.UNREADABLE


def test_an_affiliate_payment_credits_what_the_buyer_paid() -> None:
    """Telegram lists the bot's net share (212.5) and the affiliate's (37.5) of 250."""
    half = 5 * 10**8
    share = {"commission_per_mille": 150, "amount": 37, "nanostar_amount": half}
    ours = payment("c1", 212, str(OURS), nanostar_amount=half, affiliate=share)
    ours_unlabelled = payment(
        "c2", 212, str(OURS), nanostar_amount=half, affiliate=share, label="paid_media_payment"
    )
    foreign = payment("c3", 45, "campaign-7", affiliate={"amount": 5})
    cut = deployment(ours=250)
    # Our order's amount for ours (whatever the shares add up to); net + share otherwise.
    assert [credit_amount(tx, cut) for tx in (ours, ours_unlabelled, foreign)] == [250, 250, 50]
    assert charge_of(ours, cut) == Charge("c1", ALICE, 250, str(OURS))
    # Without an affiliate, its own amount, whatever the order says (an anomaly to log).
    assert credit_amount(payment("c4", 90, str(OURS)), cut) == 90


def test_the_ledger_is_asked_about_every_row_with_a_user() -> None:
    rows = [
        payment("c1", 1, "x"),
        payment("c2", 1, "", label="paid_media_payment"),
        parse({"id": "w", "date": 1, "amount": 5, "receiver": {"type": "fragment"}}),
    ]
    assert ledger_ids(rows) == {"c1", "c2"}
