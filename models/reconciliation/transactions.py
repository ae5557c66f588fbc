"""One item of Telegram's Stars ledger (getStarTransactions), read so that new shapes
cannot break it.

Every Bot API release adds transaction shapes, and a library refuses a whole page when
one item has a partner type it did not know at release time (aiogram 3.31 fails the
page with `union_tag_invalid`). So the method is read as plain JSON (bot/transactions.py)
and each item is parsed here, on its own:

- a sale from a user is read in full: `invoice_payment`, and `paid_media_payment`,
  which is how the real server labels an invoice sale when Telegram sent no product
  information with it (`paid_media: []`, the payload in `paid_media_payload`; see
  `models.reconciliation.sales` for which of them are ours);
- anything else keeps a `kind` label from a small fixed set (unknown types share one
  label; `detail` keeps the real type for the log), and its user's id when it has one;
- an invoice payment that cannot be read as one is `unreadable`, with the reason.
  Parsing never raises, so one item cannot stop the rest of a page.

A row's sign decides its side: `source` for incoming, `receiver` for outgoing (a
refund shares its payment's id and says `receiver`). `amount` is then the absolute
value, with `nanostar_amount` only when it is not zero.

Affiliate programs (Bot API 8.1): a sale may carry `affiliate`, and then its `amount`
is the bot's net share. `amount` here is what the buyer paid for: the net share plus
the affiliate's share (their nanostar parts add up to whole Stars, because the price
was).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Items per getStarTransactions page: Telegram's maximum, and what a pass asks for.
PAGE = 100
NANOS = 1_000_000_000

INVOICE_PAYMENT = "invoice_payment"
# The label a paid-media sale is skipped under, and what an invoice sale that came
# without product information looks like.
PAID_MEDIA_PAYMENT = "user:paid_media_payment"
UNREADABLE = "unreadable"
# What Bot API 10.x lists; anything else is labelled as unknown (one label each for
# partners and for user transaction types, so metric labels stay a small fixed set).
PARTNER_TYPES = frozenset(
    {"user", "chat", "affiliate_program", "fragment", "telegram_ads", "telegram_api", "other"}
)
USER_TRANSACTION_TYPES = frozenset(
    {
        INVOICE_PAYMENT,
        "paid_media_payment",
        "gift_purchase",
        "premium_purchase",
        "business_account_transfer",
    }
)
# The fields a sale keeps its payload in, by transaction type.
_PAYLOAD_FIELD = {INVOICE_PAYMENT: "invoice_payload", "paid_media_payment": "paid_media_payload"}


@dataclass(frozen=True, slots=True)
class Transaction:
    """One item of getStarTransactions.

    `id`, `date` and `incoming` are read from every item (the cursor needs them);
    `payer_id` from every item with a user partner; the rest from sales only.
    """

    id: str
    date: int
    incoming: bool
    # INVOICE_PAYMENT, PAID_MEDIA_PAYMENT, UNREADABLE, or why it is skipped
    # ("partner:fragment", "user:gift_purchase", …).
    kind: str
    # The real type behind an unknown label, or why an item (for a paid-media sale,
    # its sale details) cannot be read.
    detail: str = ""
    payer_id: int = 0  # the user partner: the buyer of a sale, the receiver of a refund
    amount: int = 0  # what the buyer paid for: net + affiliate share
    net: int = 0  # the transaction's own `amount`
    affiliate_share: int = 0
    affiliate: bool = False
    payload: str = ""

    @property
    def with_user(self) -> bool:
        """Its partner is a user (Telegram's `TransactionPartnerUser`)."""
        return self.kind == INVOICE_PAYMENT or self.kind.startswith("user:")

    @property
    def key(self) -> tuple[str, str]:
        """Refunds share their payment's id: the direction tells the two apart."""
        return (self.id, "in" if self.incoming else "out")


def whole(value: Any) -> int | None:
    """An integer from JSON: not a float, a string or a boolean."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _short(value: Any) -> str:
    return str(value)[:64]


def parse(raw: Any) -> Transaction:
    """Read one transaction; never raises."""
    if not isinstance(raw, dict):
        return Transaction("", 0, True, UNREADABLE, f"not an object: {_short(raw)}")
    tx_id = raw.get("id")
    date = whole(raw.get("date"))
    incoming = raw.get("source") is not None
    tx_id = tx_id if isinstance(tx_id, str) else ""
    if not tx_id or date is None:
        return Transaction(tx_id, date or 0, incoming, UNREADABLE, "no id or date")
    partner = raw.get("source") if incoming else raw.get("receiver")
    if partner is None:
        return Transaction(tx_id, date, incoming, "partner:none")
    partner_type = partner.get("type") if isinstance(partner, dict) else None
    if not isinstance(partner_type, str):  # a list or an object is no type we know
        partner_type = None
    if partner_type not in PARTNER_TYPES:
        return Transaction(tx_id, date, incoming, "partner:unknown", _short(partner_type))
    if partner_type != "user":
        return Transaction(tx_id, date, incoming, f"partner:{partner_type}")
    assert isinstance(partner, dict)
    kind = partner.get("transaction_type")
    if not isinstance(kind, str):
        kind = None
    if kind in _PAYLOAD_FIELD:
        assert kind is not None
        return _sale(tx_id, date, incoming, kind, raw, partner)
    user = partner.get("user")
    payer_id = (whole(user.get("id")) if isinstance(user, dict) else None) or 0
    if kind in USER_TRANSACTION_TYPES:
        return Transaction(tx_id, date, incoming, f"user:{kind}", payer_id=payer_id)
    return Transaction(tx_id, date, incoming, "user:unknown", _short(kind), payer_id=payer_id)


def _sale(
    tx_id: str,
    date: int,
    incoming: bool,
    transaction_type: str,
    raw: dict[str, Any],
    partner: dict[str, Any],
) -> Transaction:
    invoice = transaction_type == INVOICE_PAYMENT
    kind = INVOICE_PAYMENT if invoice else PAID_MEDIA_PAYMENT
    what = "invoice payment" if invoice else "paid-media payment"
    payload = partner.get(_PAYLOAD_FIELD[transaction_type])
    payload = payload if isinstance(payload, str) else ""

    def unreadable(reason: str) -> Transaction:
        # An invoice sale is always ours to look at; a paid-media one may be anybody's
        # purchase, so whether it matters is decided with its payload (sales.py).
        if invoice:
            return Transaction(tx_id, date, incoming, UNREADABLE, reason)
        return Transaction(tx_id, date, incoming, kind, reason, payload=payload)

    user = partner.get("user")
    payer_id = whole(user.get("id")) if isinstance(user, dict) else None
    net = whole(raw.get("amount"))
    nanos = whole(raw.get("nanostar_amount", 0))
    if payer_id is None:
        return unreadable(f"{what} without a user id")
    if net is None or net < 0 or nanos is None:
        return unreadable(f"amount is not a whole number of Stars: {_short(raw.get('amount'))}")
    affiliate = partner.get("affiliate")
    share = 0
    if affiliate is not None:
        share_stars = whole(affiliate.get("amount")) if isinstance(affiliate, dict) else None
        share_nanos = whole(affiliate.get("nanostar_amount", 0)) if share_stars is not None else 0
        if share_stars is None or share_nanos is None:
            return unreadable("affiliate share is not a whole number of Stars")
        nanos += share_nanos
        share = share_stars
    return Transaction(
        tx_id,
        date,
        incoming,
        kind,
        payer_id=payer_id,
        amount=net + share + round(nanos / NANOS),
        net=net,
        affiliate_share=share,
        affiliate=affiliate is not None,
        payload=payload,
    )
