"""The rules of buying a Telegram gift or Premium from a balance, as plain functions.

`sendGift` and `giftPremiumSubscription` take no idempotency key and answer only
`True`, so what happened to a call whose answer never came can only be learnt from the
bot's own Stars ledger (getStarTransactions), where every purchase is an outgoing row
naming the recipient, the gift (or the Premium duration) and the Stars paid, and
nothing that ties it to the request. These functions decide:

- what an answer from Telegram means (`outcome_of`): sent; a definite refusal (any
  4xx but 429: Telegram did nothing); a flood wait (429: nothing done, call again
  after `retry_after`); or unknown (a time-out, a reset, a 5xx, a crash): never called
  again, only settled;
- how pending purchases are settled from the ledger's rows (`settle`).

The settling rule. A purchase of one class (recipient, gift or duration, Stars) whose
outcome is unknown is `sent` when an outgoing row of that class, dated no earlier than
`CLOCK_SLACK` seconds before its attempt began and matched to no other purchase, is in
the ledger; with none `window` after its attempt began it is `failed` (its Stars go
back). Each row settles at most one purchase, so several identical purchases in flight
to one recipient are settled by count: purchases Telegram answered `True` take their
rows first, then unknown ones in the order their attempts began, each the earliest row
it may have. A class is left alone while one of its attempts may still be on the wire
(younger than `in_flight`, the longest a call may take): its row may be in the ledger
already and would be taken by a sibling whose call never went out.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from models.kinds import GiftKind
from models.refusals import Refusal, Refused

MAX_TEXT = 128
# The three Premium offers: months -> Stars, as the Bot API fixes them.
PREMIUM_OFFERS: Mapping[int, int] = {3: 1000, 6: 1500, 12: 2500}
# Telegram's clock and ours may disagree by this much (seconds), and its dates are
# whole seconds: a row dated this much before an attempt began may still be its own.
CLOCK_SLACK = 5
# A call is on the wire at most its timeout; the claim's commit and the request's
# way out add this much before it, so an attempt younger than both may still land.
IN_FLIGHT_MARGIN = 10.0


def may_be_on_the_wire(attempt_started_at: datetime, now: datetime, call_timeout: float) -> bool:
    """Whether an attempt's call may still reach Telegram: younger than its time-out and
    the margin (what the settling pass waits for, and `gifts settle --failed` too)."""
    return now - attempt_started_at < timedelta(seconds=call_timeout + IN_FLIGHT_MARGIN)


MAX_CHAT_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Recipient:
    """A user (`sendGift` `user_id`, or Premium's) or a channel chat (`chat_id`)."""

    user_id: int | None = None
    chat_id: int | None = None

    @property
    def key(self) -> tuple[str, int]:
        return ("user", self.user_id) if self.user_id is not None else ("chat", self.chat_id or 0)


def check_recipient(to: object) -> Recipient:
    """`{"user_id": n}` or `{"chat_id": n}`: one of them, a JSON integer (a user id
    positive, a chat id any non-zero 64-bit integer)."""
    if not isinstance(to, dict) or len(to) != 1:
        raise Refused(Refusal.INVALID_RECIPIENT)
    ((name, value),) = to.items()
    if type(value) is not int or not 0 < abs(value) <= MAX_CHAT_ID:
        raise Refused(Refusal.INVALID_RECIPIENT)
    if name == "user_id" and value > 0:
        return Recipient(user_id=value)
    if name == "chat_id":
        return Recipient(chat_id=value)
    raise Refused(Refusal.INVALID_RECIPIENT)


def check_text(text: object) -> str | None:
    """Up to MAX_TEXT characters, no control characters (a new line is allowed)."""
    if text is None:
        return None
    if (
        not isinstance(text, str)
        or len(text) > MAX_TEXT
        or any(unicodedata.category(c) in ("Cc", "Cs") and c != "\n" for c in text)
    ):
        raise Refused(Refusal.INVALID_TEXT)
    return text or None


def premium_price(months: object) -> int:
    if type(months) is not int or months not in PREMIUM_OFFERS:
        raise Refused(Refusal.INVALID_MONTHS)
    return PREMIUM_OFFERS[months]


@dataclass(frozen=True, slots=True)
class Item:
    """What is bought: a catalog gift (by its Telegram id) or Premium for `months`."""

    kind: GiftKind
    gift_id: str | None = None
    months: int | None = None

    @property
    def key(self) -> str:
        return f"gift:{self.gift_id}" if self.kind is GiftKind.GIFT else f"premium:{self.months}"


# ------------------------------------------------------------------ Telegram's answer


class Outcome(StrEnum):
    SENT = "sent"
    REFUSED = "refused"  # a definite no: fail the purchase, give the Stars back
    FLOOD_WAIT = "flood_wait"  # a 429: nothing was done; call again after retry_after
    UNKNOWN = "unknown"  # it may or may not have happened: settle from the ledger


def outcome_of(status: int | None) -> Outcome:
    """What an HTTP status from the Bot API means for a purchase: None is no answer at
    all (a time-out, a reset connection, a crash)."""
    if status == 200:
        return Outcome.SENT
    if status == 429:
        return Outcome.FLOOD_WAIT
    if status is not None and 400 <= status < 500:
        return Outcome.REFUSED
    return Outcome.UNKNOWN


# ------------------------------------------------------------------ the ledger's rows


@dataclass(frozen=True, slots=True)
class PurchaseRow:
    """An outgoing purchase in getStarTransactions."""

    id: str
    date: int  # Unix time, Telegram's clock
    recipient: tuple[str, int]
    item: str  # Item.key
    amount: int

    @property
    def cls(self) -> tuple[tuple[str, int], str, int]:
        return (self.recipient, self.item, self.amount)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def purchase_row(raw: Any) -> PurchaseRow | None:
    """The purchase an outgoing row records, or None for any other row. The shapes:
    a gift to a user `{"type": "user", "transaction_type": "gift_purchase", "user",
    "gift"}`, to a channel `{"type": "chat", "chat", "gift"}`, Premium `{"type":
    "user", "transaction_type": "premium_purchase", "user",
    "premium_subscription_duration"}`."""
    if not isinstance(raw, dict) or raw.get("source") is not None:
        return None
    receiver, tx_id, date, amount = (
        raw.get("receiver"),
        raw.get("id"),
        _int(raw.get("date")),
        _int(raw.get("amount")),
    )
    if not isinstance(receiver, dict) or not isinstance(tx_id, str) or date is None:
        return None
    if amount is None or amount < 0:
        return None
    kind, label = receiver.get("type"), receiver.get("transaction_type")
    recipient: tuple[str, int] | None = None
    if kind == "user" and isinstance(receiver.get("user"), dict):
        user_id = _int(receiver["user"].get("id"))
        recipient = ("user", user_id) if user_id is not None else None
    elif kind == "chat" and isinstance(receiver.get("chat"), dict):
        chat_id = _int(receiver["chat"].get("id"))
        recipient = ("chat", chat_id) if chat_id is not None else None
    if recipient is None:
        return None
    gift = receiver.get("gift")
    gift_key = gift.get("id") if isinstance(gift, dict) else None
    if isinstance(gift_key, str) and (
        (kind == "user" and label == "gift_purchase") or (kind == "chat" and label is None)
    ):
        return PurchaseRow(tx_id, date, recipient, f"gift:{gift_key}", amount)
    months = _int(receiver.get("premium_subscription_duration"))
    if kind == "user" and label == "premium_purchase" and months is not None:
        return PurchaseRow(tx_id, date, recipient, f"premium:{months}", amount)
    return None


# ------------------------------------------------------------------ settling


@dataclass(frozen=True, slots=True)
class Unsettled:
    """A purchase that needs its ledger row: one whose outcome is unknown (`pending`,
    its attempt begun), or one Telegram answered `True` to (`sent`) whose row is not
    known yet."""

    id: str
    recipient: tuple[str, int]
    item: str
    amount: int
    attempt_started_at: datetime
    sent: bool = False

    @property
    def cls(self) -> tuple[tuple[str, int], str, int]:
        return (self.recipient, self.item, self.amount)


@dataclass(frozen=True, slots=True)
class Settlement:
    matched: dict[str, str]  # purchase id -> row id
    failed: list[str]  # unknown outcomes with no row within the window
    waiting: list[str]  # neither yet


def settle(
    unsettled: Iterable[Unsettled],
    rows: Iterable[PurchaseRow],
    taken: frozenset[str] | set[str],
    *,
    now: datetime,
    window: timedelta,
    in_flight: timedelta,
) -> Settlement:
    """Match purchases to rows (see the module docstring). `taken` are row ids matched
    to purchases before; `now` is our clock, which attempts were dated by."""
    by_class: dict[tuple[tuple[str, int], str, int], list[Unsettled]] = defaultdict(list)
    for purchase in unsettled:
        by_class[purchase.cls].append(purchase)
    free: dict[tuple[tuple[str, int], str, int], list[PurchaseRow]] = defaultdict(list)
    seen: set[str] = set()
    for row in rows:
        if row.id not in taken and row.id not in seen:
            seen.add(row.id)
            free[row.cls].append(row)
    matched: dict[str, str] = {}
    failed: list[str] = []
    waiting: list[str] = []
    for cls, purchases in by_class.items():
        if any(not p.sent and now - p.attempt_started_at < in_flight for p in purchases):
            waiting.extend(p.id for p in purchases)
            continue
        candidates = sorted(free.get(cls, []), key=lambda row: (row.date, row.id))
        # Answered purchases first: each surely has a row of its own.
        for purchase in sorted(purchases, key=lambda p: (not p.sent, p.attempt_started_at, p.id)):
            earliest = purchase.attempt_started_at.timestamp() - CLOCK_SLACK
            found = next((r for r in candidates if r.date >= earliest), None)
            if found is not None:
                candidates.remove(found)
                matched[purchase.id] = found.id
            elif not purchase.sent and now - purchase.attempt_started_at >= window:
                failed.append(purchase.id)
            else:
                waiting.append(purchase.id)
    return Settlement(matched, failed, waiting)
