"""Every JSON body the API reads or writes, declared once.

The views build their answers as these TypedDicts (so mypy checks each key and
type), and api.openapi generates the document's schemas from them (api.json_schema):
a field changed here changes both. Class names are the schemas' names in
/openapi.json; docstrings and Meta(...) are their descriptions.
"""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired, TypedDict

from api.json_schema import Meta
from models.kinds import EntryKind, OrderStatus
from models.ledger.debits import MAX_AMOUNT, MAX_REASON

Uuid = Annotated[str, Meta(format="uuid")]
Timestamp = Annotated[str, Meta(format="date-time")]  # ISO 8601 with its UTC offset
# No control characters (C0, DEL, C1): models.ledger.debits.check_reason refuses them.
Reason = Annotated[
    str, Meta(min_length=1, max_length=MAX_REASON, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$")
]


class ErrorDetail(TypedDict):
    code: str
    message: str
    stars_balance: NotRequired[
        Annotated[int, Meta(description="insufficient_balance: the balance now")]
    ]
    star_count: NotRequired[
        Annotated[int, Meta(description="price_changed: what the gift costs now")]
    ]


class Error(TypedDict):
    """Every failure: a stable snake_case `code` for programs, a `message` for people."""

    error: ErrorDetail


class Health(TypedDict):
    status: Literal["ok", "unavailable"]
    database: NotRequired[Literal["down"]]


class Packages(TypedDict):
    packages: list[int]


class Me(TypedDict):
    telegram_id: int
    stars_balance: int


class TopUp(TypedDict):
    payment_id: Uuid
    invoice_url: str
    amount: int
    status: OrderStatus
    expires_at: Timestamp


class Payment(TypedDict):
    payment_id: Uuid
    amount: int
    status: OrderStatus
    created_at: Timestamp
    paid_at: Timestamp | None


class Account(TypedDict):
    telegram_id: int
    stars_balance: int
    username: str | None
    first_name: str | None
    language_code: str | None
    created_at: Timestamp


class DebitRequest(TypedDict):
    amount: Annotated[int, Meta(minimum=1, maximum=MAX_AMOUNT)]
    reason: Reason


class ReversalRequest(TypedDict):
    reason: NotRequired[Reason | None]  # null, or left out: no reason


class Debit(TypedDict):
    debit_id: Uuid
    telegram_id: int
    amount: int
    reason: str
    stars_balance: Annotated[
        int, Meta(description="The balance right after the debit (after the reversal, for one)")
    ]
    created_at: Timestamp
    reversed: bool


class AdjustmentRequest(TypedDict):
    amount: Annotated[
        int,
        Meta(
            minimum=-MAX_AMOUNT,
            maximum=MAX_AMOUNT,
            excluded=(0,),
            description="Signed, never 0: Stars added (positive) or taken (negative)",
        ),
    ]
    reason: Reason
    allow_negative: NotRequired[
        Annotated[bool, Meta(description="Let the balance go below zero (false by default)")]
    ]


class Adjustment(TypedDict):
    adjustment_id: Uuid
    telegram_id: int
    amount: int
    reason: str
    by: Annotated[str, Meta(description="Who made it: the calling service key's label")]
    stars_balance: Annotated[int, Meta(description="The balance right after the adjustment")]
    created_at: Timestamp


class LedgerEntry(TypedDict):
    """One ledger row; the keys after `created_at` are there only when they apply."""

    id: int
    kind: EntryKind
    amount: Annotated[int, Meta(description="Signed: credits are positive")]
    stars_balance_after: int
    created_at: Timestamp
    order_id: NotRequired[Uuid]
    charge_id: NotRequired[str]
    debit_id: NotRequired[Uuid]
    idempotency_key: NotRequired[str]
    reason: NotRequired[str]
    anomaly: NotRequired[str]


class LedgerPage(TypedDict):
    entries: list[LedgerEntry]
    next: Annotated[
        str | None, Meta(description="Pass as `before` for the next (older) page; null: no more")
    ]


class CatalogGift(TypedDict):
    """A gift Telegram sells now (getAvailableGifts); the limits are null for gifts
    without them."""

    id: str
    star_count: Annotated[int, Meta(description="What sending it costs")]
    upgrade_star_count: int | None
    emoji: str | None
    is_premium: Annotated[bool, Meta(description="Only Premium users can buy it")]
    remaining_count: int | None
    total_count: int | None
    personal_remaining_count: int | None
    personal_total_count: int | None
    sold_out: bool


class PremiumOffer(TypedDict):
    months: Literal[3, 6, 12]
    star_count: int


class GiftCatalog(TypedDict):
    gifts: list[CatalogGift]
    premium: list[PremiumOffer]
    fetched_at: Annotated[Timestamp, Meta(description="When Telegram gave this catalog")]
    age_seconds: int
    stale: Annotated[
        bool, Meta(description="Older than GIFT_CATALOG_TTL: Telegram could not be read since")
    ]


class Recipient(TypedDict):
    """Exactly one of the two."""

    user_id: NotRequired[Annotated[int, Meta(minimum=1)]]
    chat_id: NotRequired[Annotated[int, Meta(description="A channel chat (not limited gifts)")]]


# A purchase's text: up to 128 characters, no control characters but a new line
# (models.gifts.rules.check_text).
GiftText = Annotated[
    str,
    Meta(
        max_length=128,
        pattern=r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$",
        description="Up to 128 characters; no control characters but a new line",
    ),
]
ExpectedStars = Annotated[
    int, Meta(minimum=0, description="Refused with price_changed when the price differs")
]


class GiftRequest(TypedDict):
    """`to` is one of `{"user_id": n}` and `{"chat_id": n}` (the document's RecipientChoice)."""

    gift_id: str
    to: Recipient
    text: NotRequired[GiftText]
    pay_for_upgrade: NotRequired[bool]
    expected_star_count: NotRequired[ExpectedStars]


class MiniAppGiftRequest(TypedDict):
    gift_id: str
    expected_star_count: NotRequired[ExpectedStars]


class PremiumRequest(TypedDict):
    to_user_id: Annotated[int, Meta(minimum=1, maximum=2**63 - 1)]
    months: Literal[3, 6, 12]
    text: NotRequired[GiftText]


class GiftPurchase(TypedDict):
    """A gift or Premium bought from a user's balance, and where it stands."""

    id: Uuid
    telegram_id: int
    kind: Literal["gift", "premium"]
    to: Recipient
    gift_id: NotRequired[str]
    pay_for_upgrade: NotRequired[bool]
    months: NotRequired[int]
    star_count: Annotated[int, Meta(description="The Stars debited")]
    text: str | None
    state: Literal["pending", "sent", "failed"]
    idempotency_key: str
    created_at: Timestamp
    finished_at: Timestamp | None
    failure_reason: str | None
    transaction_id: Annotated[
        str | None, Meta(description="Its row in the bot's getStarTransactions, once known")
    ]
