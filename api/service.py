"""Spending the balance over HTTP: the /service/… endpoints an app's backend calls with
a service key, and the Mini App's own history (GET /me/ledger, initData).

A thin adapter over `models.ledger.debits` (debits, reversals) and `models.queries`
(the account, ledger pages): every rule lives there, and its refusals are answered by
`api/refusals.py`. The /service/… routes exist only when SERVICE_API_KEYS is set, so
without it each of those paths is a 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import structlog
from aiohttp import web

from api import shapes
from api.bodies import read_object
from api.errors import ApiError
from api.idempotency import read_key
from api.service_auth import authenticate_service, key_digests, service_key_digests_key
from api.views import caller, iso
from models.idempotency import prune
from models.infra.settings import Settings
from models.ledger.debits import DebitReceipt, debit, reverse_debit
from models.queries.accounts import get_account
from models.queries.history import (
    DEFAULT_PAGE,
    MAX_PAGE,
    InvalidCursor,
    LedgerLine,
    LedgerPage,
    ledger_page,
    parse_cursor,
)

log = structlog.get_logger("api")
# How long an Idempotency-Key holds its first answer (IDEMPOTENCY_KEY_RETENTION_HOURS).
key_retention_key = web.AppKey("idempotency_key_retention", timedelta)
_MAX_ID = 2**63 - 1


def path_telegram_id(request: web.Request) -> int:
    """The path's user id; anything but a positive 64-bit integer names nobody."""
    raw = request.match_info["telegram_id"]
    if raw.isascii() and raw.isdigit() and len(raw) <= 19 and 0 < int(raw) <= _MAX_ID:
        structlog.contextvars.bind_contextvars(user_id=int(raw))
        return int(raw)
    raise ApiError(404, "user_not_found", "There is no such user.")


def _debit_body(item: DebitReceipt) -> shapes.Debit:
    return {
        "debit_id": str(item.id),
        "telegram_id": item.user_id,
        "amount": item.amount,
        "reason": item.reason,
        "stars_balance": item.stars_balance,
        "created_at": iso(item.created_at),
        "reversed": item.reversed,
    }


def _entry_body(entry: LedgerLine) -> shapes.LedgerEntry:
    """What the entry came from rides along only where it applies."""
    body: shapes.LedgerEntry = {
        "id": entry.id,
        "kind": entry.kind,
        "amount": entry.amount,
        "stars_balance_after": entry.stars_balance_after,
        "created_at": iso(entry.created_at),
    }
    if entry.order_id is not None:
        body["order_id"] = entry.order_id
    if entry.charge_id is not None:
        body["charge_id"] = entry.charge_id
    if entry.debit_id is not None:
        body["debit_id"] = entry.debit_id
    if entry.idempotency_key is not None:
        body["idempotency_key"] = entry.idempotency_key
    if entry.reason is not None:
        body["reason"] = entry.reason
    if entry.anomaly is not None:
        body["anomaly"] = entry.anomaly
    return body


async def _page(request: web.Request, user_id: int) -> LedgerPage:
    raw_limit = request.query.get("limit")
    limit = DEFAULT_PAGE
    if raw_limit is not None:
        digits = raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 3
        if not (digits and 1 <= int(raw_limit) <= MAX_PAGE):
            raise ApiError(
                400, "invalid_limit", f"limit must be a whole number from 1 to {MAX_PAGE}."
            )
        limit = int(raw_limit)
    before = request.query.get("before")
    if before is not None:
        try:
            parse_cursor(before)
        except InvalidCursor:
            raise ApiError(
                400, "invalid_cursor", "before must be a `next` value from an earlier page."
            ) from None
    return await ledger_page(user_id, limit=limit, before=before)


def _page_body(page: LedgerPage) -> shapes.LedgerPage:
    return {"entries": [_entry_body(e) for e in page.entries], "next": page.next}


async def get_user(request: web.Request) -> web.Response:
    authenticate_service(request)
    account = await get_account(path_telegram_id(request))
    if account is None:
        raise ApiError(404, "user_not_found", "There is no such user.")
    answer: shapes.Account = {
        "telegram_id": account.telegram_id,
        "stars_balance": account.stars_balance,
        "username": account.username,
        "first_name": account.first_name,
        "language_code": account.language_code,
        "created_at": iso(account.created_at),
    }
    return web.json_response(answer)


async def post_debit(request: web.Request) -> web.Response:
    authenticate_service(request)
    user_id = path_telegram_id(request)
    key = read_key(request, example="gift-order-8812")
    body = await read_object(request, '{"amount": 10, "reason": "a gift"}')
    # debit() checks the types of what the client sent (a JSON integer, a string); its
    # refusals are answered by the request middleware (api/refusals.py).
    result = await debit(
        user_id,
        body.get("amount"),  # type: ignore[arg-type]
        body.get("reason"),  # type: ignore[arg-type]
        key,
        retention=request.app[key_retention_key],
    )
    if result.replayed:
        log.info("debit.replayed", debit_id=str(result.debit.id))
        return web.json_response(
            _debit_body(result.debit), status=201, headers={"Idempotent-Replayed": "true"}
        )
    log.info("debit.recorded", debit_id=str(result.debit.id), amount=result.debit.amount)
    return web.json_response(_debit_body(result.debit), status=201)


async def post_reversal(request: web.Request) -> web.Response:
    authenticate_service(request)
    try:
        debit_id = uuid.UUID(request.match_info["debit_id"])
    except ValueError:
        raise ApiError(404, "debit_not_found", "There is no such debit.") from None
    body = await read_object(request, '{"reason": "returned"}', optional=True)
    result = await reverse_debit(debit_id, body.get("reason"))
    if result.reversed_now:
        log.info("debit.reversed", debit_id=str(debit_id), amount=result.debit.amount)
    return web.json_response(_debit_body(result.debit), status=201 if result.reversed_now else 200)


async def get_user_ledger(request: web.Request) -> web.Response:
    authenticate_service(request)
    user_id = path_telegram_id(request)
    page = await _page(request, user_id)
    if not page.entries and await get_account(user_id) is None:
        raise ApiError(404, "user_not_found", "There is no such user.")
    return web.json_response(_page_body(page))


async def my_ledger(request: web.Request) -> web.Response:
    profile = caller(request)
    return web.json_response(_page_body(await _page(request, profile.id)))


def setup_wallet_routes(app: web.Application, settings: Settings) -> None:
    app.router.add_get("/me/ledger", my_ledger)
    if not settings.service_keys:
        return
    app[service_key_digests_key] = key_digests(settings.service_keys)
    app[key_retention_key] = timedelta(hours=settings.idempotency_key_retention_hours)
    app.cleanup_ctx.append(_prune_keys_context)
    app.router.add_get("/service/users/{telegram_id}", get_user)
    app.router.add_post("/service/users/{telegram_id}/debits", post_debit)
    app.router.add_get("/service/users/{telegram_id}/ledger", get_user_ledger)
    app.router.add_post("/service/debits/{debit_id}/reversal", post_reversal)


PRUNE_INTERVAL = 3600.0  # seconds between deletions of keys past their retention


async def _prune_keys_context(app: web.Application) -> AsyncIterator[None]:
    """Delete keys past their retention now and then (every API process does; the
    deletions are idempotent). Only the keys go: the debits stay."""

    async def prune_now_and_then() -> None:
        while True:
            try:
                pruned = await prune(retention=app[key_retention_key])
                if pruned:
                    log.info("idempotency.pruned", keys=pruned)
            except Exception as error:  # the database is away: next time
                log.warning("idempotency.prune_failed", error=repr(error))
            await asyncio.sleep(PRUNE_INTERVAL)

    task = asyncio.create_task(prune_now_and_then(), name="idempotency-prune")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
