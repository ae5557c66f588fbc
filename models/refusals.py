"""How the core says no: it raises `Refused`, with a stable `code` and the facts behind it.

Every operation that may refuse what it is asked raises this and nothing else to say
so: opening an order past the buyer's limit (`models.orders`), a payment its order
does not allow (the pre-checkout's check, `models.orders.terms`), a debit or a
reversal (`models.ledger.debits`), a refund (`models.ledger.refunds`, and
`bot/refunding.py` for Telegram's part of it). A refusal has changed nothing.

Outcomes that are not refusals are results: a charge or a refund reported again is
`CreditStatus.ALREADY_CREDITED` / `RefundStatus.ALREADY_RECORDED`, a debit asked for
again with its key is `DebitResult.replayed`.

The adapters put a refusal in their own words, each in one place: `api/refusals.py`
(the HTTP status, error code and message), `bot/refusals.py` (the bot's texts). The
facts are plain values those words are made from, never sentences.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypedDict, Unpack


class Refusal(StrEnum):
    # Opening an order: more this minute than the buyer may open (`retry_after`).
    RATE_LIMITED = "rate_limited"
    # Paying an order (the pre-checkout): the payload names none of ours, the payer is
    # not its buyer, not Stars, not its amount, or the order is expired, paid,
    # refunded or failed. The values are also the pre-checkout metric's labels.
    UNKNOWN_ORDER = "unknown_order"
    NOT_OWNER = "not_owner"
    WRONG_CURRENCY = "wrong_currency"
    WRONG_AMOUNT = "wrong_amount"
    EXPIRED = "expired"
    ALREADY_PAID = "already_paid"
    REFUNDED = "refunded"
    FAILED = "failed"
    # Spending: a bad amount, reason or idempotency key; no such user; not enough
    # Stars (`balance`, `amount`); the key made another debit; no such debit.
    INVALID_AMOUNT = "invalid_amount"
    INVALID_REASON = "invalid_reason"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    USER_NOT_FOUND = "user_not_found"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    DEBIT_NOT_FOUND = "debit_not_found"
    # An adjustment (`models.ledger.adjustments`): not a whole, non-zero number of
    # Stars within the limit either way. Below zero it is INSUFFICIENT_BALANCE.
    INVALID_ADJUSTMENT = "invalid_adjustment"
    # Refunding a charge: not on the ledger; refunded before; the user's balance is
    # lower than the charge (unless forced); the bot's own Stars cannot cover it;
    # Telegram said no (`error`); Telegram's answer never came (`error`).
    UNKNOWN_CHARGE = "unknown_charge"
    ALREADY_REFUNDED = "already_refunded"
    BALANCE_TOO_LOW = "balance_too_low"
    BOT_STARS_TOO_LOW = "bot_stars_too_low"
    TELEGRAM_REFUSED = "telegram_refused"
    OUTCOME_UNKNOWN = "outcome_unknown"
    # Buying a gift or Premium (models.gifts): no such gift in the catalog; sold out;
    # its price is not what the caller expected (`star_count`); a limited gift to a
    # channel; a bad recipient, text or month count; the bot's own Stars cannot cover
    # it now (`bot_balance`, `retry_after`); the catalog could not be read
    # (`retry_after`); no such gift purchase (`gift_id`).
    UNKNOWN_GIFT = "unknown_gift"
    GIFT_SOLD_OUT = "gift_sold_out"
    PRICE_CHANGED = "price_changed"
    LIMITED_GIFT_TO_CHANNEL = "limited_gift_to_channel"
    INVALID_RECIPIENT = "invalid_recipient"
    INVALID_TEXT = "invalid_text"
    INVALID_MONTHS = "invalid_months"
    BOT_BALANCE_LOW = "bot_balance_low"
    CATALOG_UNAVAILABLE = "catalog_unavailable"
    GIFT_NOT_FOUND = "gift_not_found"


class Facts(TypedDict, total=False):
    """What a refusal is about; each code carries the ones its comment names, and the
    ids of what it is about."""

    user_id: int
    amount: int  # Stars asked for: a debit's, a charge's
    balance: int  # the user's balance now
    retry_after: int  # seconds until it would be allowed
    charge_id: str
    debit_id: str
    bot_balance: int  # the bot's own Stars
    error: str  # Telegram's words, or the kind of failure
    gift_id: str  # a purchase's id, or a catalog gift's
    star_count: int  # a gift's price now


class Refused(Exception):
    def __init__(self, code: Refusal, **facts: Unpack[Facts]) -> None:
        super().__init__(code.value)
        self.code = code
        self.facts: Facts = facts

    def __str__(self) -> str:
        details = ", ".join(f"{name}={value}" for name, value in self.facts.items())
        return f"{self.code.value} ({details})" if details else self.code.value
