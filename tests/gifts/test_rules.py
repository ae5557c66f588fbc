"""The rules of gift purchases as plain functions: what Telegram's answer means, which
rows of its ledger are purchases, and how unknown outcomes are settled from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.gifts.catalog import Catalog, CatalogGift, parse_catalog, price_gift
from models.gifts.rules import (
    Outcome,
    PurchaseRow,
    Recipient,
    Unsettled,
    check_recipient,
    check_text,
    outcome_of,
    premium_price,
    purchase_row,
    settle,
)
from models.refusals import Refusal, Refused

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
IN_FLIGHT = timedelta(seconds=30)
TEDDY = ("user", 7), "gift:5170233102089322756", 15


def unknown(name: str, started: datetime, *, sent: bool = False) -> Unsettled:
    recipient, item, amount = TEDDY
    return Unsettled(name, recipient, item, amount, started, sent=sent)


def row(name: str, at: datetime, *, cls: Any = TEDDY) -> PurchaseRow:
    recipient, item, amount = cls
    return PurchaseRow(name, int(at.timestamp()), recipient, item, amount)


def test_telegram_answers_mean_sent_refused_flood_wait_or_unknown() -> None:
    assert outcome_of(200) is Outcome.SENT
    assert outcome_of(400) is Outcome.REFUSED
    assert outcome_of(403) is Outcome.REFUSED
    assert outcome_of(429) is Outcome.FLOOD_WAIT
    for status in (500, 502, None):
        assert outcome_of(status) is Outcome.UNKNOWN


def test_the_three_shapes_of_purchase_rows_are_read_and_nothing_else() -> None:
    gift_id = "5170233102089322756"
    gift = {"id": gift_id, "star_count": 15}
    user = {"id": 7, "is_bot": False, "first_name": "Ann"}
    to_user = {
        "id": "a",
        "date": 100,
        "amount": 15,
        "receiver": {
            "type": "user",
            "transaction_type": "gift_purchase",
            "user": user,
            "gift": gift,
        },
    }
    to_channel = {
        "id": "b",
        "date": 101,
        "amount": 15,
        "receiver": {"type": "chat", "chat": {"id": -1001, "type": "channel"}, "gift": gift},
    }
    premium = {
        "id": "c",
        "date": 102,
        "amount": 1000,
        "receiver": {
            "type": "user",
            "transaction_type": "premium_purchase",
            "user": user,
            "premium_subscription_duration": 3,
        },
    }
    assert purchase_row(to_user) == PurchaseRow("a", 100, ("user", 7), f"gift:{gift_id}", 15)
    assert purchase_row(to_channel) == PurchaseRow(
        "b", 101, ("chat", -1001), f"gift:{gift_id}", 15
    )
    assert purchase_row(premium) == PurchaseRow("c", 102, ("user", 7), "premium:3", 1000)
    sale = {"id": "d", "date": 1, "amount": 5, "source": {"type": "user", "user": user}}
    refund = {
        "id": "e",
        "date": 1,
        "amount": 5,
        "receiver": {"type": "user", "transaction_type": "invoice_payment", "user": user},
    }
    for other in (sale, refund, {"id": "f"}, None, "x", {**to_user, "amount": "15"}):
        assert purchase_row(other) is None


def test_an_unknown_outcome_is_sent_when_its_row_appears_after_the_attempt_began() -> None:
    result = settle(
        [unknown("g1", T0)],
        [row("old", T0 - timedelta(minutes=1)), row("r1", T0 + timedelta(seconds=2))],
        set(),
        now=T0 + timedelta(minutes=1),
        window=WINDOW,
        in_flight=IN_FLIGHT,
    )
    assert result.matched == {"g1": "r1"}
    assert result.failed == result.waiting == []


def test_a_row_of_another_recipient_gift_or_amount_settles_nothing() -> None:
    others = [
        row("a", T0, cls=(("user", 8), TEDDY[1], 15)),
        row("b", T0, cls=(("user", 7), "gift:1", 15)),
        row("c", T0, cls=(("user", 7), TEDDY[1], 16)),
        row("d", T0, cls=(("chat", 7), TEDDY[1], 15)),
    ]
    result = settle(
        [unknown("g1", T0)], others, set(), now=T0 + WINDOW, window=WINDOW, in_flight=IN_FLIGHT
    )
    assert result.matched == {}
    assert result.failed == ["g1"]


def test_with_no_row_it_waits_through_the_window_then_fails() -> None:
    def at(now: datetime) -> Any:
        return settle([unknown("g1", T0)], [], set(), now=now, window=WINDOW, in_flight=IN_FLIGHT)

    assert at(T0 + WINDOW - timedelta(seconds=1)).waiting == ["g1"]
    assert at(T0 + WINDOW).failed == ["g1"]


def test_a_row_matched_before_settles_nothing_else() -> None:
    result = settle(
        [unknown("g2", T0)],
        [row("r1", T0 + timedelta(seconds=1))],
        {"r1"},
        now=T0 + WINDOW,
        window=WINDOW,
        in_flight=IN_FLIGHT,
    )
    assert result.matched == {}
    assert result.failed == ["g2"]


def test_identical_purchases_are_settled_by_count() -> None:
    purchases = [unknown(f"g{i}", T0 + timedelta(seconds=i)) for i in range(3)]
    rows = [row("r1", T0 + timedelta(seconds=5)), row("r2", T0 + timedelta(seconds=6))]
    result = settle(
        purchases, rows, set(), now=T0 + WINDOW * 2, window=WINDOW, in_flight=IN_FLIGHT
    )
    assert sorted(result.matched.values()) == ["r1", "r2"]
    assert len(result.failed) == 1


def test_an_answered_purchase_takes_its_row_before_an_unknown_sibling() -> None:
    # g1's call may never have left; g2 was answered True: the one row is g2's.
    purchases = [unknown("g1", T0), unknown("g2", T0 + timedelta(seconds=1), sent=True)]
    rows = [row("r1", T0 + timedelta(seconds=2))]
    result = settle(purchases, rows, set(), now=T0 + WINDOW, window=WINDOW, in_flight=IN_FLIGHT)
    assert result.matched == {"g2": "r1"}
    assert result.failed == ["g1"]


def test_a_class_with_a_call_possibly_on_the_wire_is_left_alone() -> None:
    purchases = [unknown("g1", T0), unknown("g2", T0 + WINDOW)]
    rows = [row("r1", T0 + WINDOW + timedelta(seconds=1))]
    result = settle(
        purchases,
        rows,
        set(),
        now=T0 + WINDOW + timedelta(seconds=5),
        window=WINDOW,
        in_flight=IN_FLIGHT,
    )
    assert result.matched == {}
    assert sorted(result.waiting) == ["g1", "g2"]


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ({"user_id": 7}, Recipient(user_id=7)),
        ({"chat_id": -1001}, Recipient(chat_id=-1001)),
    ],
)
def test_a_recipient_is_one_user_or_one_chat(to: Any, expected: Recipient) -> None:
    assert check_recipient(to) == expected


@pytest.mark.parametrize(
    "to",
    [None, {}, {"user_id": -7}, {"user_id": "7"}, {"user_id": 7, "chat_id": 8}, {"x": 1}, []],
)
def test_anything_else_is_an_invalid_recipient(to: Any) -> None:
    with pytest.raises(Refused) as refused:
        check_recipient(to)
    assert refused.value.code is Refusal.INVALID_RECIPIENT


def test_text_and_months_are_checked() -> None:
    assert check_text("x" * 128) == "x" * 128
    assert check_text(None) is None
    for bad in ("x" * 129, 5, "a\x00b"):
        with pytest.raises(Refused):
            check_text(bad)
    assert [premium_price(m) for m in (3, 6, 12)] == [1000, 1500, 2500]
    for months in (1, 4, "3", True):
        with pytest.raises(Refused) as refused:
            premium_price(months)
        assert refused.value.code is Refusal.INVALID_MONTHS


def test_the_catalog_prices_a_gift_and_refuses_what_cannot_be_bought() -> None:
    raw = {
        "gifts": [
            {"id": "1", "sticker": {"emoji": "🧸"}, "star_count": 15, "upgrade_star_count": 25},
            {"id": "2", "star_count": 50, "total_count": 100, "remaining_count": 0},
            {"id": "3", "star_count": 50, "total_count": 100, "remaining_count": 3},
            {"id": 4, "star_count": 1},
        ]
    }
    catalog = Catalog(parse_catalog(raw), 0.0)
    assert [g.id for g in catalog.gifts] == ["1", "2", "3"]
    user = Recipient(user_id=7)
    assert price_gift(catalog, "1", user)[1] == 15
    assert price_gift(catalog, "1", user, pay_for_upgrade=True)[1] == 40
    assert isinstance(price_gift(catalog, "3", user)[0], CatalogGift)

    def refusal(*args: Any, **kwargs: Any) -> Refusal:
        with pytest.raises(Refused) as refused:
            price_gift(catalog, *args, **kwargs)
        return refused.value.code

    assert refusal("9", user) is Refusal.UNKNOWN_GIFT
    assert refusal("2", user) is Refusal.GIFT_SOLD_OUT
    assert refusal("3", Recipient(chat_id=-1001)) is Refusal.LIMITED_GIFT_TO_CHANNEL
    assert refusal("1", user, expected_star_count=10) is Refusal.PRICE_CHANGED
