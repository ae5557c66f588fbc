"""Telegram's side of the invariant check (`run_bot.py check`): its payments and
refunds by charge id, recognised by the same rules as reconciliation
(models.reconciliation.sales), whatever their label."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from models.reconciliation.deployment import Deployment, paid_at
from models.reconciliation.sales import Books, Role, View
from models.reconciliation.transactions import Transaction


@dataclass
class TelegramRecord:
    """Our payments and refunds as Telegram lists them, by charge id.

    `payments` holds what each buyer paid for: for an affiliate-program payment, the
    bot's net share plus the affiliate's (both also in `affiliate`).
    """

    payments: dict[str, int] = field(default_factory=dict)
    refunds: set[str] = field(default_factory=set)
    affiliate: dict[str, tuple[int, int]] = field(default_factory=dict)  # net, share
    # Paid before this database's deployment: (payer, amount, paid at); never
    # credited by reconciliation, only by an operator's backfill.
    before_deployment: dict[str, tuple[int, int, datetime]] = field(default_factory=dict)
    deployed_at: datetime | None = None
    skipped: Counter[str] = field(default_factory=Counter)  # other transactions, by kind
    unreadable: list[str] = field(default_factory=list)


def telegram_record(
    items: Sequence[Transaction], deployment: Deployment, books: Books
) -> TelegramRecord:
    view = View.of(items, deployment, books)
    record = TelegramRecord(deployed_at=deployment.at)
    for tx in items:
        role = view.role(tx)
        if role is Role.UNREADABLE:
            record.unreadable.append(f"transaction {tx.id or '(no id)'}: {tx.detail}")
        elif role is Role.OTHER:
            record.skipped[f"{tx.kind} ({tx.detail})" if tx.detail else tx.kind] += 1
        elif role is Role.PAYMENT:
            record.payments[tx.id] = tx.amount
            if tx.affiliate:
                record.affiliate[tx.id] = (tx.net, tx.affiliate_share)
            if deployment.before(tx):
                record.before_deployment[tx.id] = (tx.payer_id, tx.amount, paid_at(tx))
        else:
            record.refunds.add(tx.id)
    return record
