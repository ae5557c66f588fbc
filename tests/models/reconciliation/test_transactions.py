"""Each Stars row is read on its own, whatever its shape: a new kind is a label, a
broken row a reason, never an exception that stops the page."""

from __future__ import annotations

from typing import Any

import pytest

from models.reconciliation.transactions import (
    INVOICE_PAYMENT,
    PAID_MEDIA_PAYMENT,
    UNREADABLE,
    parse,
)
from tests.models.reconciliation.rows import ALICE, partner

USER = {"id": ALICE, "is_bot": False, "first_name": "Alice"}


@pytest.mark.parametrize(
    ("item", "kind", "detail"),
    [
        (
            {
                "amount": 7,
                "source": {
                    "type": "affiliate_program",
                    "sponsor_user": {"id": 777, "is_bot": True, "first_name": "Shop"},
                    "commission_per_mille": 100,
                },
            },
            "partner:affiliate_program",
            "",
        ),
        (
            {"amount": 500, "receiver": {"type": "fragment", "withdrawal_state": {}}},
            "partner:fragment",
            "",
        ),
        (
            {
                "amount": 15,
                "receiver": {"type": "user", "transaction_type": "gift_purchase", "user": USER},
            },
            "user:gift_purchase",
            "",
        ),
        (
            {"amount": 1000, "source": {"type": "telegram_stars_bank", "branch": "future"}},
            "partner:unknown",
            "telegram_stars_bank",
        ),
        (
            {"amount": 1, "source": {"type": "user", "transaction_type": "stars_loan"}},
            "user:unknown",
            "stars_loan",
        ),
        ({"amount": 1}, "partner:none", ""),
        # Shapes no release has sent: still read, never a TypeError that stops a page.
        ({"amount": 1, "source": {"type": ["user"]}}, "partner:unknown", ""),
        ({"amount": 1, "source": {"type": "user", "transaction_type": {}}}, "user:unknown", ""),
        ({"amount": 1, "date": "yesterday", "source": {"type": "user"}}, UNREADABLE, ""),
        (
            {"amount": 1, "source": {"type": "user", "transaction_type": "invoice_payment"}},
            UNREADABLE,
            "invoice payment without a user id",
        ),
        ({"amount": -5, "source": partner(ALICE, "x")}, UNREADABLE, ""),
        # Someone's paid media, or an invoice sale Telegram sent without its product
        # information: read in full either way (which one it is needs our orders).
        (
            {"amount": 30, "source": partner(ALICE, "", "paid_media_payment")},
            PAID_MEDIA_PAYMENT,
            "",
        ),
        (
            {"amount": 30, "source": {"type": "user", "transaction_type": "paid_media_payment"}},
            PAID_MEDIA_PAYMENT,
            "paid-media payment without a user id",
        ),
    ],
)
def test_each_transaction_is_read_on_its_own(item: dict[str, Any], kind: str, detail: str) -> None:
    tx = parse({"id": "stx-1", "date": 1_700_000_000, **item})
    assert tx.kind == kind
    if detail:
        assert tx.detail == detail


def test_not_an_object_is_unreadable_with_what_it_was() -> None:
    tx = parse(["a", "list"])
    assert (tx.kind, tx.detail) == (UNREADABLE, "not an object: ['a', 'list']")


@pytest.mark.parametrize("label", ["invoice_payment", "paid_media_payment"])
def test_a_sale_is_read_the_same_whatever_its_label(label: Any) -> None:
    """The real server puts the payload in `invoice_payload` or `paid_media_payload`."""
    raw = {"id": "stx-2", "date": 1_700_000_000, "amount": 250}
    incoming = parse({**raw, "source": partner(ALICE, "order-7", label)})
    outgoing = parse({**raw, "receiver": partner(ALICE, "order-7", label)})
    expected = INVOICE_PAYMENT if label == "invoice_payment" else PAID_MEDIA_PAYMENT
    for tx in (incoming, outgoing):
        assert (tx.kind, tx.payer_id, tx.amount, tx.payload) == (expected, ALICE, 250, "order-7")
        assert tx.with_user
    assert (incoming.key, outgoing.key) == (("stx-2", "in"), ("stx-2", "out"))


def test_an_affiliate_sale_is_what_the_buyer_paid_for() -> None:
    """Net 212.5 plus the affiliate's 37.5: the buyer paid 250."""
    source = partner(ALICE, "order-8")
    source["affiliate"] = {"commission_per_mille": 150, "amount": 37, "nanostar_amount": 5 * 10**8}
    tx = parse(
        {"id": "a", "date": 1, "amount": 212, "nanostar_amount": 5 * 10**8, "source": source}
    )
    assert (tx.amount, tx.net, tx.affiliate_share, tx.affiliate) == (250, 212, 37, True)


def test_other_rows_with_a_user_keep_the_users_id() -> None:
    tx = parse(
        {
            "id": "g",
            "date": 1,
            "amount": 15,
            "receiver": {"type": "user", "transaction_type": "gift_purchase", "user": USER},
        }
    )
    assert (tx.with_user, tx.payer_id, tx.payload) == (True, ALICE, "")
    assert not parse(
        {"id": "f", "date": 1, "amount": 5, "receiver": {"type": "fragment"}}
    ).with_user
