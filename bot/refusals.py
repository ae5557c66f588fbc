"""The core's refusals (`models.refusals`) in the bot's words: the one place that gives
each refusal the bot meets its text (bot/texts.py), filled in from its facts."""

from __future__ import annotations

from bot.texts import text
from models.refusals import Refusal, Refused

TEXT_KEYS: dict[Refusal, str] = {
    # A pre-checkout the order does not allow: what the payment sheet shows.
    Refusal.UNKNOWN_ORDER: "checkout_unknown_order",
    Refusal.NOT_OWNER: "checkout_not_owner",
    Refusal.WRONG_CURRENCY: "checkout_wrong_currency",
    Refusal.WRONG_AMOUNT: "checkout_wrong_amount",
    Refusal.EXPIRED: "checkout_expired",
    Refusal.ALREADY_PAID: "checkout_already_paid",
    Refusal.REFUNDED: "checkout_refunded",
    Refusal.FAILED: "checkout_failed",
    # A refund an administrator asked for (/refund, `run_bot.py refund`).
    Refusal.UNKNOWN_CHARGE: "refund_unknown",
    Refusal.ALREADY_REFUNDED: "refund_done_before",
    Refusal.BALANCE_TOO_LOW: "refund_low_balance",
    Refusal.BOT_STARS_TOO_LOW: "refund_bot_balance_low",
    Refusal.TELEGRAM_REFUSED: "refund_failed",
    Refusal.OUTCOME_UNKNOWN: "refund_unknown_outcome",
}


def refusal_text(lang: str | None, refused: Refused) -> str:
    """What the bot says to a refusal, in the user's language."""
    return text(lang, TEXT_KEYS[refused.code], **refused.facts)
