"""What "before deployment" means: the one rule, asked by reconciliation, `check`,
backfill and the live payment handler alike.

A bot token may carry Stars history from an earlier implementation or other products
on it. Turning that history into spendable balance (and messages to old payers) is the
operator's decision (`run_bot.py backfill`), so a payment made before this database's
deployment (`models.infra.jobs.deployment_time`) is listed, never credited on its own.
Our orders exist only since deployment, so a payment for one of them never counts as
before it, whatever its date says.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from models.reconciliation.transactions import Transaction
from models.values import parse_order_id


def paid_before_deployment(paid_at: datetime, deployed_at: datetime, *, ours: bool) -> bool:
    """A payment made before deployment and not for one of our orders. Telegram dates
    are whole seconds: a payment in the second the database was deployed is after it."""
    return not ours and paid_at < deployed_at.replace(microsecond=0)


def paid_at(tx: Transaction) -> datetime:
    return datetime.fromtimestamp(tx.date, UTC)


def named_orders(items: Iterable[Transaction]) -> set[uuid.UUID]:
    """The order ids the payloads of these sales name (existing or not)."""
    return {order_id for tx in items if tx.payload and (order_id := parse_order_id(tx.payload))}


@dataclass(frozen=True, slots=True)
class Deployment:
    """The cut-off, and those of our orders that a set of transactions names."""

    at: datetime
    orders: Mapping[uuid.UUID, int]  # order id → amount

    def order_amount(self, tx: Transaction) -> int | None:
        """The amount of our order that the transaction's payload names, if any."""
        order_id = parse_order_id(tx.payload) if tx.payload else None
        return self.orders.get(order_id) if order_id is not None else None

    def ours(self, tx: Transaction) -> bool:
        """Its payload names one of our orders."""
        return self.order_amount(tx) is not None

    def before(self, tx: Transaction) -> bool:
        return paid_before_deployment(paid_at(tx), self.at, ours=self.ours(tx))
