"""What a reconciliation pass does with each row it read."""

from __future__ import annotations

from models.reconciliation.passes import Action, PassPlan, plan_pass
from models.reconciliation.sales import Books
from models.reconciliation.transactions import Transaction, parse
from models.values import Charge
from tests.models.reconciliation.rows import (
    ALICE,
    AT,
    BORIS,
    HOUR,
    OURS,
    deployment,
    partner,
    payment,
    refund,
)


def plan(rows: list[Transaction], books: Books | None = None, **orders: int) -> PassPlan:
    return plan_pass(list(enumerate(rows)), deployment(**orders), books or Books())


def actions(result: PassPlan) -> list[tuple[str, str, Action]]:
    return [(step.tx.id, step.tx.key[1], step.action) for step in result.steps]


def test_what_the_ledger_lacks_is_recorded_and_what_it_holds_is_left_alone() -> None:
    lost = payment("lost", 100, str(OURS))
    credited = payment("credited", 50, "campaign-7", user_id=BORIS)
    refunded = payment("refunded", 20, "campaign-8")
    rows = [lost, credited, refund(credited), refunded, refund(refunded)]
    books = Books(topups={"credited", "refunded"}, refunds={"refunded"})
    result = plan(rows, books, ours=100)
    assert actions(result) == [
        ("lost", "in", Action.CREDIT),
        ("credited", "in", Action.RECORDED),
        ("refunded", "in", Action.RECORDED),
        ("credited", "out", Action.REFUND),
        ("refunded", "out", Action.RECORDED),
    ]
    by_key = {step.tx.key: step for step in result.steps}
    assert by_key["lost", "in"].charge == Charge("lost", ALICE, 100, str(OURS))
    assert by_key["credited", "out"].charge == Charge("credited", BORIS, 50, "campaign-7")
    assert result.waiting == []


def test_oldest_first_and_each_payment_before_its_refund_whatever_telegrams_order() -> None:
    paid = payment("p", 10, str(OURS), date=AT + HOUR)
    back = refund(paid, date=AT + HOUR)  # the same second
    later = payment("q", 10, "x", date=AT + 2 * HOUR)
    result = plan([later, back, paid], ours=10)  # newest first
    assert actions(result) == [
        ("p", "in", Action.CREDIT),
        ("p", "out", Action.REFUND),
        ("q", "in", Action.CREDIT),
    ]
    assert [step.position for step in result.steps] == [2, 1, 0]


def test_history_from_before_deployment_is_listed_never_recorded() -> None:
    old = payment("old", 100, "legacy-1", date=AT - 30 * 24 * HOUR)
    old_refunded = payment("old-refunded", 500, "legacy-2", date=AT - 15 * 24 * HOUR)
    refunded_now = refund(old_refunded, date=AT + HOUR)  # refunded after deployment
    result = plan([old, old_refunded, refunded_now])
    assert actions(result) == [
        ("old", "in", Action.BEFORE_DEPLOYMENT),
        ("old-refunded", "in", Action.BEFORE_DEPLOYMENT),
        ("old-refunded", "out", Action.BEFORE_DEPLOYMENT),
    ]
    assert result.waiting == [old]  # the refunded one nets to nothing
    # Once backfilled it is ours: its refund is recorded like any other.
    backfilled = plan([old, refund(old, date=AT + HOUR)], Books(topups={"old"}))
    assert actions(backfilled)[1] == ("old", "out", Action.REFUND)


def test_a_refund_whose_payment_was_never_seen_is_recorded_only_for_our_order() -> None:
    """Its payment, from after the cut-off, was seen and credited by an earlier pass
    (the cursor never passes a failure): one the ledger lacks is from before."""
    ours = refund(payment("a", 100, str(OURS)))
    foreign = refund(payment("b", 100, "legacy-3"))
    result = plan([ours, foreign], ours=100)
    assert actions(result) == [
        ("a", "out", Action.REFUND),
        ("b", "out", Action.BEFORE_DEPLOYMENT),
    ]
    # The refund records the payment first, from what its row says.
    assert result.steps[0].charge == Charge("a", ALICE, 100, str(OURS))


def test_paid_media_labels_are_ours_when_the_order_or_the_charge_is() -> None:
    lost = payment("lost", 100, str(OURS), label="paid_media_payment")
    credited = payment("credited", 40, "campaign-1")
    someones = payment("album", 30, "album-9", label="paid_media_payment", user_id=BORIS)
    rows = [
        lost,
        credited,
        someones,
        refund(lost),
        refund(credited, label="paid_media_payment"),
        refund(someones),
    ]
    result = plan(rows, Books(topups={"credited"}), ours=100)
    assert actions(result) == [
        ("lost", "in", Action.CREDIT),
        ("credited", "in", Action.RECORDED),
        ("album", "in", Action.SKIP),
        ("lost", "out", Action.REFUND),
        ("credited", "out", Action.REFUND),
        ("album", "out", Action.SKIP),
    ]


def test_other_kinds_are_skipped_and_broken_invoice_rows_shown() -> None:
    withdrawal = parse({"id": "w", "date": AT + 1, "amount": 5, "receiver": {"type": "fragment"}})
    future = parse(
        {
            "id": "f",
            "date": AT + 2,
            "amount": 1,
            "source": {"type": "user", "transaction_type": "x"},
        }
    )
    broken = parse({"id": "b", "date": AT + 3, "amount": -1, "source": partner(ALICE, "p")})
    assert actions(plan([withdrawal, future, broken])) == [
        ("w", "out", Action.SKIP),
        ("f", "in", Action.SKIP),
        ("b", "in", Action.UNREADABLE),
    ]


def test_a_row_listed_twice_is_recorded_once() -> None:
    """Telegram's list may shift between two pages of one pass."""
    lost = payment("lost", 100, str(OURS))
    result = plan([lost, lost], ours=100)
    assert [step.action for step in result.steps] == [Action.CREDIT, Action.RECORDED]
