"""The endpoints. Each one authenticates, validates, and calls one money operation."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import structlog
from aiohttp import web

from api import shapes
from api.auth import authenticate
from api.bodies import MAX_DEV_CREDIT, read_amount
from api.errors import ApiError
from api.invoices import InvoiceError, InvoiceFailure
from api.keys import (
    init_data_secret_key,
    invoice_client_key,
    invoice_links_key,
    order_opener_key,
    settings_key,
)
from api.mini_app import setup_mini_app
from api.openapi import openapi
from models.infra import metrics
from models.infra.db import ping
from models.kinds import EntryKind, OrderStatus
from models.ledger.entries import apply_entry
from models.orders.opening import NewOrder, fail_order
from models.queries.accounts import get_balance
from models.queries.orders import find_order, visible_status
from models.users import upsert_user
from models.values import Profile

log = structlog.get_logger("api")
TELEGRAM_TIMEOUT = 5


def iso(value: datetime) -> str:
    return value.isoformat()


def caller(request: web.Request) -> Profile:
    profile = authenticate(
        request, request.app[init_data_secret_key], request.app[settings_key].init_data_max_age
    )
    structlog.contextvars.bind_contextvars(user_id=profile.id)
    return profile


async def top_up(request: web.Request) -> web.Response:
    with metrics.TOPUP_SECONDS.time():
        return await _top_up(request)


async def _top_up(request: web.Request) -> web.Response:
    settings = request.app[settings_key]
    profile = caller(request)
    amount = await read_amount(request)
    if amount not in settings.star_packages:
        raise ApiError(
            400,
            "amount_not_offered",
            f"{amount} Stars is not a package on offer; choose one of {settings.star_packages}.",
        )
    # Past the buyer's limit this is Refused, answered 429 with Retry-After (api/refusals.py).
    order = await request.app[order_opener_key].open(profile, amount)
    order_id = str(order.id)
    structlog.contextvars.bind_contextvars(order_id=order_id, amount=amount)
    invoice_url = order.invoice_url
    if invoice_url is None:
        # A new order, or a reused one whose link is not stored yet (a second press
        # within moments): that press waits for the first one's call.
        invoice_url = await create_invoice(request, order, order_id, profile)
    if order.reused:
        log.info("topup.order_reused")
    answer: shapes.TopUp = {
        "payment_id": order_id,
        "invoice_url": invoice_url,
        "amount": amount,
        "status": OrderStatus.PENDING,
        "expires_at": iso(order.expires_at),
    }
    return web.json_response(answer, status=200 if order.reused else 201)


async def create_invoice(
    request: web.Request, order: NewOrder, order_id: str, profile: Profile
) -> str:
    """The order's link, from the one `createInvoiceLink` call made for it (api.invoice_links)."""
    settings = request.app[settings_key]
    links = request.app[invoice_links_key]
    client = request.app[invoice_client_key]

    async def ask() -> str:
        try:
            return await client.create(
                order.amount, profile.language_code, order_id, timeout=TELEGRAM_TIMEOUT
            )
        except InvoiceError as error:  # counted once per call, not per press waiting
            if not (settings.is_development and error.reason is InvoiceFailure.UNREACHABLE):
                metrics.INVOICE_FAILURES.labels(error.reason).inc()
            raise

    try:
        return await links.link(order.id, ask)
    except InvoiceError as error:  # refused, 5xx, 429, timeout, unreachable: no link, no charge
        if error.reason is InvoiceFailure.FLOOD_WAIT:
            await _fail_new_order(order)
            log.warning("topup.telegram_busy", retry_after=error.retry_after)
            raise ApiError(
                503,
                "telegram_busy",
                "Telegram is busy right now. Nothing was charged; please try again shortly.",
                {"Retry-After": str(max(1, error.retry_after))},
            ) from None
        if settings.is_development and error.reason is InvoiceFailure.UNREACHABLE:
            fake = f"https://t.me/$stars_topup_{order.id.hex}"
            log.warning(
                "topup.FAKE_INVOICE_LINK",
                reason="Telegram is unreachable and ENVIRONMENT=development",
                invoice_url=fake,
                error=error.detail,
            )
            links.add(order.id, fake)
            return fake
        await _fail_new_order(order)
        log.error("topup.invoice_failed", error=error.detail)
        raise ApiError(
            502,
            "telegram_error",
            "Telegram could not create the invoice. Nothing was charged; please try again.",
        ) from None


async def _fail_new_order(order: NewOrder) -> None:
    """No link: nobody can pay a new order, unless a second press was given it back
    meanwhile (its expiry moved) and got a link of its own. A given-back order keeps
    the link of the press that opened it."""
    if not order.reused:
        await asyncio.shield(fail_order(order.id, order.expires_at))


async def get_payment(request: web.Request) -> web.Response:
    profile = caller(request)
    try:
        order_id = uuid.UUID(request.match_info["payment_id"])
    except ValueError:
        order_id = None
    order = await find_order(order_id, user_id=profile.id) if order_id else None
    if order is None:  # someone else's order is as unknown to this caller as a made-up id
        raise ApiError(404, "payment_not_found", "There is no such payment for this user.")
    answer: shapes.Payment = {
        "payment_id": str(order.id),
        "amount": order.amount,
        "status": visible_status(order),
        "created_at": iso(order.created_at),
        "paid_at": iso(order.paid_at) if order.paid_at is not None else None,
    }
    return web.json_response(answer)


async def me(request: web.Request) -> web.Response:
    profile = caller(request)
    await upsert_user(profile)
    answer: shapes.Me = {"telegram_id": profile.id, "stars_balance": await get_balance(profile.id)}
    return web.json_response(answer)


async def packages(request: web.Request) -> web.Response:
    answer: shapes.Packages = {"packages": request.app[settings_key].star_packages}
    return web.json_response(answer)


async def health(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(3):
            await ping()
    except Exception as error:
        log.warning("health.database_down", error=repr(error))
        down: shapes.Health = {"status": "unavailable", "database": "down"}
        return web.json_response(down, status=503)
    up: shapes.Health = {"status": "ok"}
    return web.json_response(up)


async def dev_add_stars(request: web.Request) -> web.Response:
    profile = caller(request)
    amount = await read_amount(request)
    if not 1 <= amount <= MAX_DEV_CREDIT:
        raise ApiError(400, "invalid_amount", f"amount must be between 1 and {MAX_DEV_CREDIT}.")
    await upsert_user(profile)
    balance = await apply_entry(profile.id, amount, EntryKind.DEV_CREDIT, note="/dev/add-stars")
    log.warning("dev.credit", amount=amount)
    answer: shapes.Me = {"telegram_id": profile.id, "stars_balance": balance}
    return web.json_response(answer)


def setup_routes(app: web.Application, *, development: bool) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/metrics", metrics.serve)
    # GET /me records the caller's profile: no HEAD there, a HEAD never writes (405).
    app.router.add_get("/me", me, allow_head=False)
    app.router.add_post("/payments/top-up", top_up)
    app.router.add_get("/payments/packages", packages)
    # Not "top-up": GET /payments/top-up is a 405 (Allow: POST), not an unknown payment.
    app.router.add_get("/payments/{payment_id:(?!top-up$)[^{}/]+}", get_payment)
    setup_mini_app(app)
    if development:
        app.router.add_post("/dev/add-stars", dev_add_stars)
