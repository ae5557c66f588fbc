"""Telegram's Stars rows as the real server writes them (tdlib/telegram-bot-api,
Client.cpp, JsonStarTransaction), for the rules' unit tests: no emulator, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from models.reconciliation.deployment import Deployment
from models.reconciliation.transactions import Transaction, parse

Label = Literal["invoice_payment", "paid_media_payment"]
DEPLOYED = datetime(2026, 9, 1, 12, 0, 0, 500_000, tzinfo=UTC)
AT = int(DEPLOYED.timestamp())  # the whole second the database was deployed in
HOUR = 3600
OURS = uuid.UUID("0b8c1f0e-9a43-4f7e-8f1e-2f4a1c9d0e11")
ALSO_OURS = uuid.UUID("5d1e7a52-3c3f-4c36-9a8b-7a0f6a2c1b44")
ALICE, BORIS = 1001, 1002


def partner(user_id: int, payload: str, label: Label = "invoice_payment") -> dict[str, Any]:
    found: dict[str, Any] = {
        "type": "user",
        "transaction_type": label,
        "user": {"id": user_id, "is_bot": False, "first_name": "U"},
    }
    if label == "paid_media_payment":
        found["paid_media"] = []
    if payload:
        found["invoice_payload" if label == "invoice_payment" else "paid_media_payload"] = payload
    return found


def payment(
    charge: str,
    amount: int,
    payload: str,
    *,
    date: int = AT + HOUR,
    label: Label = "invoice_payment",
    user_id: int = ALICE,
    affiliate: dict[str, Any] | None = None,
    **extra: Any,
) -> Transaction:
    """An incoming sale; `affiliate` goes to the partner, `extra` to the row."""
    source = partner(user_id, payload, label)
    if affiliate is not None:
        source["affiliate"] = affiliate
    return parse({"id": charge, "date": date, "amount": amount, "source": source, **extra})


def refund(of: Transaction, *, date: int | None = None, label: Label | None = None) -> Transaction:
    """The refund row of a payment: its id, the receiver's side, the same label unless
    told otherwise."""
    kind: Label = "invoice_payment" if of.kind == "invoice_payment" else "paid_media_payment"
    return parse(
        {
            "id": of.id,
            "date": of.date + 60 if date is None else date,
            "amount": of.net,
            "receiver": partner(of.payer_id, of.payload, label or kind),
        }
    )


def deployment(**orders: int) -> Deployment:
    """Deployed at DEPLOYED, with our orders OURS and ALSO_OURS at the amounts given."""
    known = {"ours": OURS, "also_ours": ALSO_OURS}
    return Deployment(DEPLOYED, {known[name]: amount for name, amount in orders.items()})
