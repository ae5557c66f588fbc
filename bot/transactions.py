"""Telegram's Stars ledger (getStarTransactions), read so that new shapes cannot break it.

Every Bot API release adds transaction shapes, and a library refuses a whole page when
one item has a partner type it did not know at release time (aiogram 3.31 fails the
page with `union_tag_invalid`). So the method is read as plain JSON and each item is
parsed here, on its own:

- an incoming `user` / `invoice_payment` (a payment) and an outgoing one with the same
  id (its refund) are what reconciliation acts on;
- anything else is skipped under a `kind` label from a small fixed set (unknown types
  share one label; `detail` keeps the real type for the log);
- an item that claims to be something it cannot be read as is `unreadable`, with the
  reason. Parsing never raises, so one item cannot stop the rest of a page.

Affiliate programs (Bot API 8.1): an invoice payment may carry `affiliate`, and then its
`amount` is the bot's net share. `amount` here is what the buyer paid for: the net
share plus the affiliate's share (their nanostar parts add up to whole Stars, because
the price was). Reconciliation credits the order's own amount when the payload is our
order, and this figure otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from aiogram import Bot
from aiogram.methods.base import Response, TelegramMethod

PAGE = 100
NANOS = 1_000_000_000

INVOICE_PAYMENT = "invoice_payment"
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

log = structlog.get_logger("bot.transactions")


class GetStarTransactionsRaw(TelegramMethod[dict[str, Any]]):
    """getStarTransactions answered as plain JSON (aiogram's own method validates every
    transaction against the partner types it knows and fails the page otherwise)."""

    __returning__ = dict[str, Any]
    __api_method__ = "getStarTransactions"

    offset: int | None = None
    limit: int | None = None


# aiogram builds Response[__returning__] for every answer and pydantic caches such
# classes only weakly: hold this one (as models.infra.telegram does for aiogram's own).
_RESPONSE = Response[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Transaction:
    """One item of getStarTransactions.

    `id`, `date` and `incoming` are read from every item (the cursor needs them); the
    rest only from invoice payments and their refunds.
    """

    id: str
    date: int
    incoming: bool
    kind: str  # INVOICE_PAYMENT, UNREADABLE, or why it is skipped ("partner:fragment", …)
    detail: str = ""  # the real type behind an unknown label, or why an item is unreadable
    payer_id: int = 0
    amount: int = 0  # what the buyer paid for: net + affiliate share
    net: int = 0  # the transaction's own `amount`
    affiliate_share: int = 0
    affiliate: bool = False
    payload: str = ""

    @property
    def is_payment(self) -> bool:
        return self.kind == INVOICE_PAYMENT and self.incoming

    @property
    def is_refund(self) -> bool:
        return self.kind == INVOICE_PAYMENT and not self.incoming

    @property
    def key(self) -> list[str]:
        """Refunds share their payment's id: the direction tells the two apart."""
        return [self.id, "in" if self.incoming else "out"]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _short(value: Any) -> str:
    return str(value)[:64]


def parse(raw: Any) -> Transaction:
    """Read one transaction; never raises."""
    if not isinstance(raw, dict):
        return Transaction("", 0, True, UNREADABLE, f"not an object: {_short(raw)}")
    tx_id = raw.get("id")
    date = _int(raw.get("date"))
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
    kind = partner.get("transaction_type")
    if not isinstance(kind, str):
        kind = None
    if kind != INVOICE_PAYMENT:
        if kind in USER_TRANSACTION_TYPES:
            return Transaction(tx_id, date, incoming, f"user:{kind}")
        return Transaction(tx_id, date, incoming, "user:unknown", _short(kind))
    return _invoice_payment(tx_id, date, incoming, raw, partner)


def _invoice_payment(
    tx_id: str, date: int, incoming: bool, raw: dict[str, Any], partner: dict[str, Any]
) -> Transaction:
    def unreadable(reason: str) -> Transaction:
        return Transaction(tx_id, date, incoming, UNREADABLE, reason)

    user = partner.get("user")
    payer_id = _int(user.get("id")) if isinstance(user, dict) else None
    net = _int(raw.get("amount"))
    nanos = _int(raw.get("nanostar_amount", 0))
    if payer_id is None:
        return unreadable("invoice payment without a user id")
    if net is None or net < 0 or nanos is None:
        return unreadable(f"amount is not a whole number of Stars: {_short(raw.get('amount'))}")
    payload = partner.get("invoice_payload")
    affiliate = partner.get("affiliate")
    share = 0
    if affiliate is not None:
        share_stars = _int(affiliate.get("amount")) if isinstance(affiliate, dict) else None
        share_nanos = _int(affiliate.get("nanostar_amount", 0)) if share_stars is not None else 0
        if share_stars is None or share_nanos is None:
            return unreadable("affiliate share is not a whole number of Stars")
        nanos += share_nanos
        share = share_stars
    return Transaction(
        tx_id,
        date,
        incoming,
        INVOICE_PAYMENT,
        payer_id=payer_id,
        amount=net + share + round(nanos / NANOS),
        net=net,
        affiliate_share=share,
        affiliate=affiliate is not None,
        payload=payload if isinstance(payload, str) else "",
    )


async def read_page(bot: Bot, offset: int, limit: int = PAGE) -> list[Transaction]:
    """One page, every item parsed on its own. Raises only when the answer itself is
    not a page (an API error, no transaction list): then nothing on it can be trusted."""
    result = await bot(GetStarTransactionsRaw(offset=offset, limit=limit))
    items = result.get("transactions")
    if not isinstance(items, list):
        raise ValueError("getStarTransactions answered without a transaction list")
    return [parse(item) for item in items]


async def read_all(bot: Bot, max_pages: int = 10_000) -> list[Transaction]:
    """Every transaction Telegram lists, in the order it lists them."""
    items: list[Transaction] = []
    for _ in range(max_pages):
        page = await read_page(bot, len(items))
        items.extend(page)
        if len(page) < PAGE:
            return items
    log.error("transactions.page_cap_reached", pages=max_pages, items=len(items))
    return items
