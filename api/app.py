"""The aiohttp application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from api.adjustments import setup_adjustment_routes
from api.auth import init_data_secret
from api.bodies import receive_body
from api.gifts import setup_gift_routes
from api.invoice_links import InvoiceLinks
from api.invoices import InvoiceClient, telegram_session
from api.keys import (
    in_flight_key,
    init_data_secret_key,
    invoice_client_key,
    invoice_links_key,
    migrate_key,
    order_opener_key,
    settings_key,
)
from api.middlewares import cors, request_context
from api.overload import InFlight, shed_overload
from api.service import setup_wallet_routes
from api.views import setup_routes
from models.infra.db import apply_migrations, close_database, open_database
from models.infra.settings import Settings
from models.orders.batches import OrderOpener

log = structlog.get_logger("api")
MAX_BODY = 64 * 1024


def create_app(
    settings: Settings, *, init_orm: bool = True, migrate: bool = False
) -> web.Application:
    """`init_orm=False` lets a test own the ORM context; `migrate` applies migrations first."""
    in_flight = InFlight(settings.api_max_in_flight)
    # Shedding comes before the request context, so that a refusal costs the least,
    # and inside CORS, so that a browser can read it; a body still on its way is
    # waited for before it, so that only requests with all they need take a slot.
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[
            cors(settings.api_cors_origins),
            receive_body,
            shed_overload(in_flight),
            request_context,
        ],
    )
    app[settings_key] = settings
    app[in_flight_key] = in_flight
    app[init_data_secret_key] = init_data_secret(settings.token)
    app[migrate_key] = migrate
    app[order_opener_key] = OrderOpener(
        ttl=settings.invoice_ttl,
        max_pending=settings.topup_max_pending,
        per_minute=settings.topup_per_minute,
    )
    if init_orm:
        app.cleanup_ctx.append(_orm_context)
    app.cleanup_ctx.append(_invoice_client_context)
    # After the database context, so it stops first and writes what is waiting.
    app.cleanup_ctx.append(_invoice_links_context)
    setup_routes(app, development=settings.is_development)
    setup_wallet_routes(app, settings)
    setup_adjustment_routes(app, settings)
    setup_gift_routes(app, settings)
    return app


async def _orm_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    if app[migrate_key]:
        applied = await apply_migrations(settings.migration_url)
        log.info("database.migrated", applied=applied)
    # Request handlers run in tasks that did not inherit this task's context, so the
    # ORM is also made the process-wide fallback.
    await open_database(settings.database_url, global_fallback=True)
    yield
    await close_database()


async def _invoice_links_context(app: web.Application) -> AsyncIterator[None]:
    links = InvoiceLinks()
    app[invoice_links_key] = links
    task = asyncio.create_task(links.run(), name="invoice-links")
    yield
    await links.close(task)


async def _invoice_client_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    session = telegram_session(settings)
    app[invoice_client_key] = InvoiceClient(settings, session)
    yield
    await session.close()
