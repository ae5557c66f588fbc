"""Reading Telegram's Stars ledger (getStarTransactions) as plain JSON, a page at a time.

aiogram's own method validates every transaction against the partner types it knew
at release time and fails the whole page on one it does not (aiogram 3.31:
`union_tag_invalid`). So the answer is taken as JSON and each item is parsed on its
own by the core (models.reconciliation.transactions), which never raises.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiogram import Bot
from aiogram.methods.base import Response, TelegramMethod

from models.reconciliation.transactions import PAGE, Transaction, parse

log = structlog.get_logger("bot.transactions")


class GetStarTransactionsRaw(TelegramMethod[dict[str, Any]]):
    """getStarTransactions answered as plain JSON."""

    __returning__ = dict[str, Any]
    __api_method__ = "getStarTransactions"

    offset: int | None = None
    limit: int | None = None


# aiogram builds Response[__returning__] for every answer and pydantic caches such
# classes only weakly: hold this one (as models.infra.telegram does for aiogram's own).
_RESPONSE = Response[dict[str, Any]]


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
