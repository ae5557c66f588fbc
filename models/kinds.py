"""The names every layer shares for what the ledger, orders and events hold.

Kept apart from the tables so that the API, the bot and plain values can use them
without loading the ORM's models (`models.tables` imports them from here).
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    REFUNDED = "refunded"
    EXPIRED = "expired"
    FAILED = "failed"


class EntryKind(StrEnum):
    TOPUP = "topup"
    REFUND = "refund"
    DEV_CREDIT = "dev_credit"
    ADJUSTMENT = "adjustment"
    DEBIT = "debit"
    DEBIT_REVERSAL = "debit_reversal"
    # A Telegram gift or Premium bought from the balance (models.gifts): the debit, a
    # zero-amount row when Telegram is known to have sent it, and the Stars given back
    # when it failed. Each at most once per gift (the (gift_id, kind) key).
    GIFT = "gift"
    PREMIUM = "premium"
    GIFT_SENT = "gift_sent"
    GIFT_REVERSAL = "gift_reversal"


class Anomaly(StrEnum):
    """Why a charge Telegram took did not match its order; it is credited all the same."""

    UNKNOWN_ORDER = "unknown_order"
    ORDER_EXPIRED = "order_expired"
    ORDER_ALREADY_PAID = "order_already_paid"
    ORDER_REFUNDED = "order_refunded"
    ORDER_FAILED = "order_failed"
    AMOUNT_MISMATCH = "amount_mismatch"
    PAYER_MISMATCH = "payer_mismatch"
    CURRENCY = "currency"
    REFUND_BEFORE_PAYMENT = "refund_before_payment"


class EventState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    ABANDONED = "abandoned"
    GONE = "gone"  # the receiver answered 410 Gone; sent again only by the operator


class GiftKind(StrEnum):
    GIFT = "gift"
    PREMIUM = "premium"


class GiftState(StrEnum):
    """pending until Telegram's answer or its ledger says; then sent or failed, for good."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
