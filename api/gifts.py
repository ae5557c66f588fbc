"""Gifts and Premium over HTTP: the catalog for the Mini App (`GET /gifts`, initData)
and the app's backend (`GET /service/gifts`), purchases paid from a user's balance
(`POST /service/users/{telegram_id}/gifts` and `/premium`, with `Idempotency-Key`),
and a purchase's state (`GET /service/gifts/{id}`).

A thin adapter over `models.gifts`: the API never calls sendGift itself. A purchase
is debited and queued in one transaction; the leading bot worker sends it
(bot/gifts.py). The request waits up to GIFT_ANSWER_WAIT seconds for the outcome:
201 with its final state when it came, else 202 `pending` (the final state follows
as a `gift.sent` / `gift.failed` event and by GET).

The API reads two things from Telegram itself, over aiohttp (no aiogram here, see
api/invoices.py): the catalog (getAvailableGifts, cached for GIFT_CATALOG_TTL and
served stale when Telegram is unreachable) and the bot's own Stars (getMyStarBalance,
cached for BOT_BALANCE_TTL), which our pending purchases must leave room in.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from api import shapes
from api.bodies import read_object
from api.errors import ApiError
from api.idempotency import read_key
from api.invoices import telegram_session
from api.keys import settings_key
from api.service import path_telegram_id
from api.service_auth import authenticate_service
from api.views import caller, iso
from models.gifts.catalog import Catalog, CatalogCache, CatalogGift, parse_catalog, price_gift
from models.gifts.rules import (
    PREMIUM_OFFERS,
    Item,
    check_recipient,
    check_text,
    premium_price,
)
from models.gifts.store import Bought, GiftRecord, GiftRequest, buy, get_gift
from models.infra.bot_api import method_url
from models.infra.settings import Settings
from models.kinds import GiftKind, GiftState
from models.ledger.debits import check_idempotency_key
from models.refusals import Refusal, Refused

log = structlog.get_logger("api")
BOT_BALANCE_TTL = 30.0
TELEGRAM_TIMEOUT = 10.0


class GiftTelegram:
    """The two reads the API makes for gifts, and the bot balance's cache."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._session = session
        self._balance: tuple[float, int, datetime] | None = None
        self.catalog = CatalogCache(self._gifts, settings.gift_catalog_ttl)

    async def _call(self, method: str) -> Any:
        timeout = aiohttp.ClientTimeout(total=TELEGRAM_TIMEOUT)
        try:
            async with self._session.post(
                method_url(self._settings, method), timeout=timeout
            ) as response:
                raw = await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            # The type only: some aiohttp errors quote the URL, and the URL holds the token.
            raise ConnectionError(type(error).__name__) from None
        answer = json.loads(raw)
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            raise ConnectionError(f"{method}: {str(answer)[:200]}")
        return answer.get("result")

    async def _gifts(self) -> list[CatalogGift]:
        return parse_catalog(await self._call("getAvailableGifts"))

    async def bot_balance(self) -> tuple[int | None, datetime | None]:
        """The bot's whole Stars, at most BOT_BALANCE_TTL old, and when they were read;
        None when unknown (then no purchase is refused for it: Telegram's
        BALANCE_TOO_LOW still fails it, with the Stars back)."""
        now = time.monotonic()
        if self._balance is not None and now - self._balance[0] < BOT_BALANCE_TTL:
            return self._balance[1], self._balance[2]
        read_at = datetime.now(UTC)
        try:
            result = await self._call("getMyStarBalance")
        except (ConnectionError, ValueError) as error:
            log.warning("gifts.bot_balance_unknown", error=str(error))
            if self._balance is not None:
                return self._balance[1], self._balance[2]
            return None, None
        amount = result.get("amount") if isinstance(result, dict) else None
        if not isinstance(amount, int):
            return None, None
        self._balance = (now, amount, read_at)
        return amount, read_at

    async def buy(self, purchase: GiftRequest) -> Bought:
        balance, read_at = await self.bot_balance()
        return await buy(purchase, bot_balance=balance, balance_read_at=read_at)


gift_telegram_key = web.AppKey("gift_telegram", GiftTelegram)


def _gift_body(gift: CatalogGift) -> shapes.CatalogGift:
    return {
        "id": gift.id,
        "star_count": gift.star_count,
        "upgrade_star_count": gift.upgrade_star_count,
        "emoji": gift.emoji,
        "is_premium": gift.is_premium,
        "remaining_count": gift.remaining_count,
        "total_count": gift.total_count,
        "personal_remaining_count": gift.personal_remaining_count,
        "personal_total_count": gift.personal_total_count,
        "sold_out": gift.sold_out,
    }


def _catalog_body(catalog: Catalog, cache: CatalogCache) -> shapes.GiftCatalog:
    age = max(0.0, time.time() - catalog.fetched_at)
    fetched = datetime.fromtimestamp(catalog.fetched_at, UTC)
    return {
        "gifts": [_gift_body(g) for g in catalog.gifts],
        "premium": [
            {"months": m, "star_count": s}  # type: ignore[typeddict-item]  # months: 3, 6, 12
            for m, s in PREMIUM_OFFERS.items()
        ],
        "fetched_at": iso(fetched),
        "age_seconds": int(age),
        "stale": age >= cache.ttl,
    }


async def _catalog(request: web.Request) -> web.Response:
    cache = request.app[gift_telegram_key].catalog
    return web.json_response(_catalog_body(await cache.get(), cache))


async def mini_app_catalog(request: web.Request) -> web.Response:
    caller(request)
    return await _catalog(request)


async def service_catalog(request: web.Request) -> web.Response:
    authenticate_service(request)
    return await _catalog(request)


def purchase_body(gift: GiftRecord) -> dict[str, Any]:
    to: dict[str, int] = (
        {"user_id": gift.to.user_id}
        if gift.to.user_id is not None
        else {"chat_id": gift.to.chat_id or 0}
    )
    body: dict[str, Any] = {
        "id": str(gift.id),
        "telegram_id": gift.user_id,
        "kind": gift.item.kind.value,
        "to": to,
        "star_count": gift.star_count,
        "text": gift.text,
        "state": gift.state.value,
        "idempotency_key": gift.idempotency_key,
        "created_at": iso(gift.created_at),
        "finished_at": iso(gift.finished_at) if gift.finished_at else None,
        "failure_reason": gift.failure_reason,
        "transaction_id": gift.transaction_id,
    }
    if gift.item.kind is GiftKind.GIFT:
        body["gift_id"] = gift.item.gift_id or ""
        body["pay_for_upgrade"] = gift.pay_for_upgrade
    else:
        body["months"] = gift.item.months or 0
    return body


def _options(body: dict[str, Any]) -> tuple[bool, int | None]:
    """`pay_for_upgrade` (a JSON boolean) and `expected_star_count` (a JSON integer)."""
    pay_for_upgrade = body.get("pay_for_upgrade", False)
    expected = body.get("expected_star_count")
    if not isinstance(pay_for_upgrade, bool) or not (
        expected is None or (type(expected) is int and expected >= 0)
    ):
        raise ApiError(
            400,
            "invalid_body",
            "pay_for_upgrade must be true or false and expected_star_count a whole number.",
        )
    return pay_for_upgrade, expected


# The Mini App's keys live apart from the service's: a Mini App user must not be able to
# take (or replay) a key an app's backend uses, like `order-8813`. They are stored as
# this prefix, the user's id and a digest of the key (fixed length, within the column's
# 128), and a service key may not begin with the prefix.
MINI_APP_KEYS = "miniapp:"


def _service_key(request: web.Request) -> str:
    key = read_key(request, example="gift-order-8812")
    if key.startswith(MINI_APP_KEYS):
        raise Refused(Refusal.INVALID_IDEMPOTENCY_KEY)
    return key


def mini_app_key(user_id: int, key: str) -> str:
    """Where a Mini App user's key is kept: its own namespace, per user."""
    digest = hashlib.sha256(check_idempotency_key(key).encode()).hexdigest()
    return f"{MINI_APP_KEYS}{user_id}:{digest}"


async def _answer(
    request: web.Request, bought: Bought, *, sent_key: str | None = None
) -> web.Response:
    """Wait (a little) for the outcome: 201 final, 202 pending. `sent_key` is the key
    as the Mini App sent it (what it is stored as is not the client's business)."""
    gift = bought.gift
    wait = request.app[settings_key].gift_answer_wait
    deadline = time.monotonic() + wait
    while gift.state is GiftState.PENDING and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        gift = await get_gift(gift.id) or gift
    headers = {"Idempotent-Replayed": "true"} if bought.replayed else {}
    status = 202 if gift.state is GiftState.PENDING else 201
    if not bought.replayed:
        log.info("gift.accepted", gift_id=str(gift.id), stars=gift.star_count, state=gift.state)
    body = purchase_body(gift)
    if sent_key is not None:
        body["idempotency_key"] = sent_key
    return web.json_response(body, status=status, headers=headers)


async def post_gift(request: web.Request) -> web.Response:
    authenticate_service(request)
    user_id = path_telegram_id(request)
    key = _service_key(request)
    body = await read_object(request, '{"gift_id": "5170233102089322756", "to": {"user_id": 7}}')
    to = check_recipient(body.get("to"))
    text = check_text(body.get("text"))
    pay_for_upgrade, expected = _options(body)
    telegram = request.app[gift_telegram_key]
    catalog = await telegram.catalog.get()
    gift, price = price_gift(
        catalog,
        body.get("gift_id"),
        to,
        pay_for_upgrade=pay_for_upgrade,
        expected_star_count=expected,
    )
    purchase = GiftRequest(
        user_id, Item(GiftKind.GIFT, gift.id), to, price, key, text, bool(pay_for_upgrade)
    )
    return await _answer(request, await telegram.buy(purchase))


async def mini_app_gift(request: web.Request) -> web.Response:
    """The Mini App's user sends a catalog gift to themselves from their balance (the
    reference page's "send yourself a gift"); the same rules as the service route."""
    profile = caller(request)
    sent_key = read_key(request)
    key = mini_app_key(profile.id, sent_key)
    body = await read_object(request, '{"gift_id": "5170233102089322756"}')
    to = check_recipient({"user_id": profile.id})
    _, expected = _options({"expected_star_count": body.get("expected_star_count")})
    telegram = request.app[gift_telegram_key]
    gift, price = price_gift(
        await telegram.catalog.get(), body.get("gift_id"), to, expected_star_count=expected
    )
    purchase = GiftRequest(profile.id, Item(GiftKind.GIFT, gift.id), to, price, key)
    return await _answer(request, await telegram.buy(purchase), sent_key=sent_key)


async def post_premium(request: web.Request) -> web.Response:
    authenticate_service(request)
    user_id = path_telegram_id(request)
    key = _service_key(request)
    body = await read_object(request, '{"to_user_id": 7, "months": 3}')
    to_user = body.get("to_user_id")
    to = check_recipient({"user_id": to_user})
    months = body.get("months")
    price = premium_price(months)
    text = check_text(body.get("text"))
    assert isinstance(months, int)
    purchase = GiftRequest(user_id, Item(GiftKind.PREMIUM, months=months), to, price, key, text)
    telegram = request.app[gift_telegram_key]
    return await _answer(request, await telegram.buy(purchase))


async def get_purchase(request: web.Request) -> web.Response:
    authenticate_service(request)
    raw = request.match_info["gift_id"]
    try:
        gift_id = uuid.UUID(raw)
    except ValueError:
        raise Refused(Refusal.GIFT_NOT_FOUND, gift_id=raw[:64]) from None
    gift = await get_gift(gift_id)
    if gift is None:
        raise Refused(Refusal.GIFT_NOT_FOUND, gift_id=str(gift_id))
    return web.json_response(purchase_body(gift))


async def _context(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    session = telegram_session(settings)
    telegram = GiftTelegram(settings, session)
    app[gift_telegram_key] = telegram
    yield
    await telegram.catalog.close()
    await session.close()


def setup_gift_routes(app: web.Application, settings: Settings) -> None:
    app.cleanup_ctx.append(_context)
    app.router.add_get("/gifts", mini_app_catalog)
    app.router.add_post("/gifts", mini_app_gift)
    if not settings.service_keys:
        return
    app.router.add_get("/service/gifts", service_catalog)
    app.router.add_post("/service/users/{telegram_id}/gifts", post_gift)
    app.router.add_post("/service/users/{telegram_id}/premium", post_premium)
    app.router.add_get("/service/gifts/{gift_id}", get_purchase)
