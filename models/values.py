"""Plain values that cross the layers: who pays, what Telegram took, the currency."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

XTR = "XTR"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Profile:
    """What Telegram tells us about a user."""

    id: int
    username: str | None = None
    first_name: str | None = None
    language_code: str | None = None


@dataclass(frozen=True, slots=True)
class Charge:
    """A payment Telegram took: from a successful_payment or from getStarTransactions."""

    charge_id: str
    payer_id: int
    amount: int
    payload: str
    currency: str = XTR


def parse_order_id(payload: str) -> uuid.UUID | None:
    """The order an invoice payload names (the payload is the order id), if any."""
    try:
        return uuid.UUID(payload)
    except (ValueError, TypeError, AttributeError):
        return None
