"""Which payments from before deployment an operator's backfill credits
(`run_bot.py backfill`): those the ledger lacks and Telegram did not refund, oldest
first, optionally only since a date. A refunded one has nothing to credit: its pair
nets to zero, whatever label its refund row carries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from models.reconciliation.deployment import Deployment
from models.reconciliation.sales import Books, Role, View
from models.reconciliation.transactions import Transaction
from models.values import Charge


@dataclass(frozen=True, slots=True)
class BackfillPlan:
    deployed_at: datetime
    payments: list[Transaction]  # to credit, oldest first
    refunded: int  # payments before deployment that Telegram refunded: nothing to credit


def select_backfill(
    items: Sequence[Transaction],
    deployment: Deployment,
    books: Books,
    since: datetime | None = None,
) -> BackfillPlan:
    view = View.of(items, deployment, books)
    roles = [view.role(tx) for tx in items]
    refunds = {tx.id for tx, role in zip(items, roles, strict=True) if role is Role.REFUND}
    missing = [
        tx
        for tx, role in zip(items, roles, strict=True)
        if role is Role.PAYMENT
        and deployment.before(tx)
        and (since is None or tx.date >= since.timestamp())
        and tx.id not in books.topups
    ]
    return BackfillPlan(
        deployment.at,
        sorted((tx for tx in missing if tx.id not in refunds), key=lambda tx: tx.date),
        sum(tx.id in refunds for tx in missing),
    )


def backfill_charge(tx: Transaction) -> Charge:
    """A payment from before deployment is for no order of ours: it credits what its
    buyer paid for (with an affiliate, the net share plus the affiliate's)."""
    return Charge(tx.id, tx.payer_id, tx.amount, tx.payload)
