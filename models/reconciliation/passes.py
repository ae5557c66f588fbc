"""What one reconciliation pass does with the rows it read: a step for each.

A pass records what the ledger lacks through the same money operations as the live
handlers (idempotent on the charge id, so the two may race). Payments made before
deployment are listed, never credited, and so are their refunds; a refund is
recorded when its payment counts: on the ledger already, credited by this pass, or
for one of our orders (the refund then records the payment first, so the pair nets to
zero). A payment from after the cut-off that this pass did not see was seen by an
earlier one, which credited it (the cursor never passes a failure).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from models.reconciliation.deployment import Deployment
from models.reconciliation.sales import Books, Role, View, charge_of
from models.reconciliation.transactions import Transaction
from models.values import Charge


class Action(StrEnum):
    CREDIT = "credit"
    REFUND = "refund"
    RECORDED = "recorded"  # on the ledger already, or earlier in this pass
    BEFORE_DEPLOYMENT = "before_deployment"  # a payment from before it, or its refund
    SKIP = "skip"  # not ours: counted under its kind
    UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class Step:
    position: int  # in Telegram's list
    tx: Transaction
    action: Action
    # CREDIT: what to credit; REFUND: the payment it gives back, which the refund
    # records first if the ledger never saw it.
    charge: Charge | None = None


@dataclass(frozen=True, slots=True)
class PassPlan:
    steps: list[Step]  # in the order to apply them
    # Payments from before deployment that no row in view refunds: for the operator.
    waiting: list[Transaction]


def plan_pass(
    seen: Sequence[tuple[int, Transaction]], deployment: Deployment, books: Books
) -> PassPlan:
    """A step for each row (position in Telegram's list, row), oldest first and each
    payment before its refund, whatever order Telegram lists them in."""
    view = View.of((tx for _, tx in seen), deployment, books)
    roles = {position: view.role(tx) for position, tx in seen}
    refunded = {tx.id for position, tx in seen if roles[position] is Role.REFUND}
    # A refund counts once its payment does: on the ledger, or credited by this pass.
    counted = set(books.topups) | {
        tx.id
        for position, tx in seen
        if roles[position] is Role.PAYMENT and not deployment.before(tx)
    }
    steps: list[Step] = []
    waiting: list[Transaction] = []
    planned: set[tuple[str, str]] = set()
    for position, tx in sorted(seen, key=lambda item: (item[1].date, not item[1].incoming)):
        role, key = roles[position], tx.key
        if role is Role.UNREADABLE:
            steps.append(Step(position, tx, Action.UNREADABLE))
        elif role is Role.OTHER:
            steps.append(Step(position, tx, Action.SKIP))
        elif key in planned:
            steps.append(Step(position, tx, Action.RECORDED))
        elif role is Role.PAYMENT:
            if tx.id in books.topups:
                steps.append(Step(position, tx, Action.RECORDED))
            elif deployment.before(tx):
                steps.append(Step(position, tx, Action.BEFORE_DEPLOYMENT))
                if tx.id not in refunded:
                    waiting.append(tx)
            else:
                steps.append(Step(position, tx, Action.CREDIT, charge_of(tx, deployment)))
        elif tx.id in books.refunds:
            steps.append(Step(position, tx, Action.RECORDED))
        elif tx.id in counted or deployment.ours(tx):
            steps.append(Step(position, tx, Action.REFUND, charge_of(tx, deployment)))
        else:
            steps.append(Step(position, tx, Action.BEFORE_DEPLOYMENT))
        planned.add(key)
    return PassPlan(steps, waiting)
