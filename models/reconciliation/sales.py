"""Which rows of Telegram's Stars ledger are our payments and refunds, whatever their
label, and what each one credits or gives back.

The real server labels a bot's sale `invoice_payment` only when Telegram sends the
product information with it; otherwise the row says `paid_media_payment`, with
`paid_media: []` and the payload in `paid_media_payload` (tdlib/telegram-bot-api,
Client.cpp, `JsonStarTransactionType`). Whether a refund row may come either way on a
live bot is not documented. So:

- every incoming `invoice_payment` is a payment (the token's own invoices: ours, or
  from before deployment, which `models.reconciliation.deployment` decides);
- an incoming `paid_media_payment` is a payment only when its payload names one of our
  orders, or its id is a charge we credited; any other is someone's purchase of paid
  media and stays skipped;
- an outgoing row to a user is a refund when it says `invoice_payment`, or whatever it
  says when its id is a charge we credited or one of the payments in view (a refund
  shares its payment's id), or its payload names one of our orders. The refund of a
  paid-media purchase that is not ours is skipped like the purchase.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass, field
from enum import StrEnum

from models.reconciliation.deployment import Deployment
from models.reconciliation.transactions import (
    INVOICE_PAYMENT,
    PAID_MEDIA_PAYMENT,
    UNREADABLE,
    Transaction,
)
from models.values import Charge


@dataclass(frozen=True, slots=True)
class Books:
    """What our ledger already holds of the charges in view, by charge id."""

    topups: Set[str] = field(default_factory=frozenset)
    refunds: Set[str] = field(default_factory=frozenset)


class Role(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"
    OTHER = "other"  # not ours to record: skipped, counted under its kind
    UNREADABLE = "unreadable"


def ledger_ids(items: Iterable[Transaction]) -> set[str]:
    """The ids whose ledger rows decide what these transactions are: every row with
    a user partner (payments and refunds by any label)."""
    return {tx.id for tx in items if tx.with_user and tx.id}


@dataclass(frozen=True, slots=True)
class View:
    """A set of Telegram's rows seen against our orders and our ledger."""

    deployment: Deployment
    books: Books
    payments: frozenset[str]  # ids of the rows in view that are our payments

    @classmethod
    def of(cls, items: Iterable[Transaction], deployment: Deployment, books: Books) -> View:
        payments = frozenset(
            tx.id for tx in items if tx.incoming and _is_payment(tx, deployment, books)
        )
        return cls(deployment, books, payments)

    def role(self, tx: Transaction) -> Role:
        if tx.kind == UNREADABLE:
            return Role.UNREADABLE
        if tx.incoming:
            ours = _is_payment(tx, self.deployment, self.books)
        else:
            ours = tx.with_user and (
                tx.kind == INVOICE_PAYMENT
                or tx.id in self.books.topups
                or tx.id in self.payments
                or self.deployment.ours(tx)
            )
        if not ours:
            return Role.OTHER
        # Ours, but its sale details could not be read: shown, never guessed at.
        if tx.kind == PAID_MEDIA_PAYMENT and tx.detail:
            return Role.UNREADABLE
        return Role.PAYMENT if tx.incoming else Role.REFUND


def _is_payment(tx: Transaction, deployment: Deployment, books: Books) -> bool:
    if tx.kind == INVOICE_PAYMENT:
        return True
    return tx.kind == PAID_MEDIA_PAYMENT and (deployment.ours(tx) or tx.id in books.topups)


def credit_amount(tx: Transaction, deployment: Deployment) -> int:
    """Stars a payment credits. An affiliate payment's own amount is the bot's net
    share: for our order the buyer paid the order's amount; otherwise net + affiliate
    share (models.reconciliation.transactions) is the best figure Telegram gives."""
    order_amount = deployment.order_amount(tx) if tx.affiliate else None
    # A refund's affiliate share may be negative: never a negative credit.
    return max(tx.amount, 0) if order_amount is None else order_amount


def charge_of(tx: Transaction, deployment: Deployment) -> Charge:
    """The charge a payment row stands for (for a refund row: its payment's, which the
    refund records first if the ledger never saw the payment)."""
    return Charge(tx.id, tx.payer_id, credit_amount(tx, deployment), tx.payload)
