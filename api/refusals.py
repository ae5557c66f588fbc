"""The core's refusals (`models.refusals`) as HTTP answers: the one place that gives
each its status, its error code and its message.

The request middleware (api/middlewares.py) answers every `Refused` a view lets
through with `refusal_response`, so no view maps one itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog
from aiohttp import web

from api import shapes
from api.errors import INTERNAL_ERROR, INTERNAL_MESSAGE, error_response
from models.gifts.rules import MAX_TEXT
from models.ledger.debits import MAX_AMOUNT, MAX_IDEMPOTENCY_KEY, MAX_REASON
from models.refusals import Facts, Refusal, Refused

log = structlog.get_logger("api")


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    code: str
    message: Callable[[Facts], str]


def _fixed(text: str) -> Callable[[Facts], str]:
    return lambda _: text


ANSWERS: dict[Refusal, Answer] = {
    Refusal.RATE_LIMITED: Answer(
        429, "rate_limited", _fixed("Too many top-up requests. Please wait a moment.")
    ),
    Refusal.INVALID_AMOUNT: Answer(
        400,
        "invalid_amount",
        _fixed(f"amount must be a whole number of Stars from 1 to {MAX_AMOUNT}."),
    ),
    Refusal.INVALID_ADJUSTMENT: Answer(
        400,
        "invalid_amount",
        _fixed(
            f"amount must be a whole number of Stars other than 0, from -{MAX_AMOUNT} "
            f"to {MAX_AMOUNT}."
        ),
    ),
    Refusal.INVALID_REASON: Answer(
        400,
        "invalid_reason",
        _fixed(f"reason must be text of 1 to {MAX_REASON} characters without control characters."),
    ),
    Refusal.INVALID_IDEMPOTENCY_KEY: Answer(
        400,
        "invalid_idempotency_key",
        _fixed(
            f"The idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters."
        ),
    ),
    Refusal.USER_NOT_FOUND: Answer(
        404, "user_not_found", lambda facts: f"There is no user {facts.get('user_id')}."
    ),
    Refusal.DEBIT_NOT_FOUND: Answer(
        404, "debit_not_found", lambda facts: f"There is no debit {facts.get('debit_id')}."
    ),
    Refusal.INSUFFICIENT_BALANCE: Answer(
        409,
        "insufficient_balance",
        lambda facts: (
            f"The balance is {facts.get('balance')} Stars; {facts.get('amount')} are needed."
        ),
    ),
    Refusal.IDEMPOTENCY_KEY_REUSED: Answer(
        409,
        "idempotency_key_reused",
        _fixed(
            "This idempotency key was already used for another debit "
            "(another user, amount or reason)."
        ),
    ),
    Refusal.UNKNOWN_GIFT: Answer(
        404, "unknown_gift", _fixed("There is no such gift in the catalog (GET /service/gifts).")
    ),
    Refusal.GIFT_SOLD_OUT: Answer(409, "gift_sold_out", _fixed("This gift is sold out.")),
    Refusal.PRICE_CHANGED: Answer(
        409,
        "price_changed",
        lambda facts: f"The gift costs {facts.get('star_count')} Stars now.",
    ),
    Refusal.LIMITED_GIFT_TO_CHANNEL: Answer(
        400, "limited_gift_to_channel", _fixed("Limited gifts cannot be sent to channels.")
    ),
    Refusal.INVALID_RECIPIENT: Answer(
        400,
        "invalid_recipient",
        _fixed('The recipient must be {"user_id": n} (a user) or {"chat_id": n} (a channel).'),
    ),
    Refusal.INVALID_TEXT: Answer(
        400,
        "invalid_text",
        _fixed(f"text must be at most {MAX_TEXT} characters without control characters."),
    ),
    Refusal.INVALID_MONTHS: Answer(400, "invalid_months", _fixed("months must be 3, 6 or 12.")),
    Refusal.BOT_BALANCE_LOW: Answer(
        503,
        "bot_balance_low",
        _fixed("The service cannot pay for this now; nothing was debited. Try again later."),
    ),
    Refusal.CATALOG_UNAVAILABLE: Answer(
        503, "catalog_unavailable", _fixed("Telegram's gift catalog cannot be read now.")
    ),
    Refusal.GIFT_NOT_FOUND: Answer(
        404, "gift_not_found", lambda facts: f"There is no gift purchase {facts.get('gift_id')}."
    ),
}


def refusal_response(refused: Refused) -> web.Response:
    """The answer to a refusal; extra facts ride inside `error`, waits in Retry-After."""
    answer = ANSWERS.get(refused.code)
    if answer is None:  # one only the bot meets (a refund's, a pre-checkout's): a bug here
        log.error("request.refusal_without_answer", refusal=str(refused))
        return error_response(500, INTERNAL_ERROR, INTERNAL_MESSAGE)
    facts = refused.facts
    detail: shapes.ErrorDetail = {"code": answer.code, "message": answer.message(facts)}
    if refused.code is Refusal.INSUFFICIENT_BALANCE and "balance" in facts:
        detail["stars_balance"] = facts["balance"]
    if refused.code is Refusal.PRICE_CHANGED and "star_count" in facts:
        detail["star_count"] = facts["star_count"]
    headers = {}
    if "retry_after" in facts:
        headers["Retry-After"] = str(facts["retry_after"])
    body: shapes.Error = {"error": detail}
    return web.json_response(body, status=answer.status, headers=headers)
