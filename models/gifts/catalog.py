"""The gift catalog (getAvailableGifts): read tolerantly, cached, served stale when
Telegram cannot be reached, and what a purchase of one of its gifts costs.

The cache holds the last catalog Telegram gave for `ttl` seconds; after that the next
reader refreshes it in the background and still gets the old one at once, with its
age, so a slow or unreachable Telegram never holds a page up. Only with no catalog at
all does a reader wait for Telegram (and get CATALOG_UNAVAILABLE when it fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from models.gifts.rules import Recipient
from models.refusals import Refusal, Refused

# How long a reader waits when there is no catalog yet; then tries again this soon.
FIRST_READ_RETRY = 5


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class CatalogGift:
    id: str
    star_count: int
    upgrade_star_count: int | None = None
    remaining_count: int | None = None
    total_count: int | None = None
    personal_remaining_count: int | None = None
    personal_total_count: int | None = None
    is_premium: bool = False
    emoji: str | None = None

    @property
    def limited(self) -> bool:
        return self.total_count is not None or self.personal_total_count is not None

    @property
    def sold_out(self) -> bool:
        return self.remaining_count == 0 or self.personal_remaining_count == 0

    def price(self, *, pay_for_upgrade: bool) -> int:
        """What sending it costs the bot: the gift, plus its upgrade if paid for."""
        return self.star_count + ((self.upgrade_star_count or 0) if pay_for_upgrade else 0)


def parse_gift(raw: Any) -> CatalogGift | None:
    """One Gift, or None when it lacks what a purchase needs (an id and a price)."""
    if not isinstance(raw, dict):
        return None
    gift_id, star_count = raw.get("id"), _int(raw.get("star_count"))
    if not isinstance(gift_id, str) or not gift_id or star_count is None or star_count < 0:
        return None
    sticker = raw.get("sticker")
    emoji = sticker.get("emoji") if isinstance(sticker, dict) else None
    return CatalogGift(
        id=gift_id,
        star_count=star_count,
        upgrade_star_count=_int(raw.get("upgrade_star_count")),
        remaining_count=_int(raw.get("remaining_count")),
        total_count=_int(raw.get("total_count")),
        personal_remaining_count=_int(raw.get("personal_remaining_count")),
        personal_total_count=_int(raw.get("personal_total_count")),
        is_premium=raw.get("is_premium") is True,
        emoji=emoji if isinstance(emoji, str) else None,
    )


def parse_catalog(raw: Any) -> list[CatalogGift]:
    items = raw.get("gifts") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise ValueError("getAvailableGifts answered without a gift list")
    return [gift for gift in map(parse_gift, items) if gift is not None]


@dataclass(frozen=True, slots=True)
class Catalog:
    gifts: list[CatalogGift]
    fetched_at: float  # Unix time

    def find(self, gift_id: str) -> CatalogGift | None:
        return next((gift for gift in self.gifts if gift.id == gift_id), None)


def price_gift(
    catalog: Catalog,
    gift_id: object,
    to: Recipient,
    *,
    pay_for_upgrade: object = False,
    expected_star_count: object = None,
) -> tuple[CatalogGift, int]:
    """The catalog's gift and its price now, or the refusal that stops the purchase
    before anything is debited."""
    if not isinstance(gift_id, str) or not gift_id:
        raise Refused(Refusal.UNKNOWN_GIFT)
    if not isinstance(pay_for_upgrade, bool):
        raise Refused(Refusal.UNKNOWN_GIFT, gift_id=gift_id)
    gift = catalog.find(gift_id)
    if gift is None:
        raise Refused(Refusal.UNKNOWN_GIFT, gift_id=gift_id)
    if gift.sold_out:
        raise Refused(Refusal.GIFT_SOLD_OUT, gift_id=gift_id)
    if gift.limited and to.chat_id is not None:
        raise Refused(Refusal.LIMITED_GIFT_TO_CHANNEL, gift_id=gift_id)
    price = gift.price(pay_for_upgrade=pay_for_upgrade)
    if expected_star_count is not None and expected_star_count != price:
        raise Refused(Refusal.PRICE_CHANGED, gift_id=gift_id, star_count=price)
    return gift, price


class CatalogCache:
    """The last catalog, refreshed in the background once older than `ttl` seconds."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[list[CatalogGift]]],
        ttl: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self.ttl = ttl
        self._clock = clock
        self._catalog: Catalog | None = None
        self._refresh: asyncio.Task[None] | None = None
        self._first = asyncio.Lock()
        self.last_error: str | None = None

    async def get(self) -> Catalog:
        """The catalog, possibly stale (its `fetched_at` says how old)."""
        if self._catalog is None:
            async with self._first:  # one call to Telegram for everyone waiting
                if self._catalog is None:
                    await self._load()
            if self._catalog is None:
                raise Refused(Refusal.CATALOG_UNAVAILABLE, retry_after=FIRST_READ_RETRY)
        elif self._clock() - self._catalog.fetched_at >= self.ttl and not self.refreshing:
            self._refresh = asyncio.create_task(self._load(), name="gift-catalog")
        return self._catalog

    @property
    def refreshing(self) -> bool:
        return self._refresh is not None and not self._refresh.done()

    async def _load(self) -> None:
        try:
            gifts = await self._fetch()
        except Exception as error:
            self.last_error = type(error).__name__ if not str(error) else str(error)[:200]
            return
        self.last_error = None
        self._catalog = Catalog(gifts, self._clock())

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh
