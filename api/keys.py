"""Typed keys for what the application holds (aiohttp warns on string keys)."""

from __future__ import annotations

from aiohttp import web

from api.invoice_links import InvoiceLinks
from api.invoices import InvoiceClient
from api.overload import InFlight
from models.infra.settings import Settings
from models.orders.batches import OrderOpener

settings_key = web.AppKey("settings", Settings)
invoice_client_key = web.AppKey("invoice_client", InvoiceClient)
# HMAC key for Mini App initData, derived from the bot token once.
init_data_secret_key = web.AppKey("init_data_secret", bytes)
# Requests being worked on, and the bound beyond which they are shed (api/overload.py).
in_flight_key = web.AppKey("in_flight", InFlight)
invoice_links_key = web.AppKey("invoice_links", InvoiceLinks)
order_opener_key = web.AppKey("order_opener", OrderOpener)
# Whether this process applies pending migrations before it opens the database.
migrate_key = web.AppKey("migrate", bool)
