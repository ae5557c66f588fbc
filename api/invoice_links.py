"""Invoice links are stored on their orders in batches, behind the requests.

The link is a record for the operator; nothing decides anything by it (an invoice's
payload is its order id). Writing it in the request cost a database round trip per
top-up, as much as opening the order; one statement every FLUSH_INTERVAL instead
holds any number of them. A crash loses at most that interval's links (the orders
stay payable); stopping the API writes what is waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import structlog

from models.orders.opening import attach_invoices

log = structlog.get_logger("api")
FLUSH_INTERVAL = 0.05
# While the database is down no order opens, so nothing new piles up: retry, slower.
MAX_RETRY_DELAY = 5.0


class InvoiceLinks:
    def __init__(self, interval: float = FLUSH_INTERVAL) -> None:
        self._interval = interval
        self._waiting: dict[uuid.UUID, str] = {}
        self._failures = 0
        self._arrived = asyncio.Event()

    def add(self, order_id: uuid.UUID, invoice_url: str) -> None:
        self._waiting[order_id] = invoice_url
        self._arrived.set()

    async def run(self) -> None:
        """Write what arrives, at most once an interval, until cancelled."""
        while True:
            await self._arrived.wait()
            await asyncio.sleep(min(MAX_RETRY_DELAY, self._interval * 2**self._failures))
            await self.flush()

    async def flush(self) -> bool:
        """Write what is waiting; False if the database refused (it is kept for later)."""
        batch, self._waiting = self._waiting, {}
        self._arrived.clear()
        if not batch:
            return True
        try:
            await attach_invoices(batch)
        except asyncio.CancelledError:  # stopped mid-write: close() writes it again
            self._waiting = {**batch, **self._waiting}
            raise
        except Exception as error:
            self._failures += 1
            log.warning("invoice_links.not_saved_yet", count=len(batch), error=repr(error))
            self._waiting = {**batch, **self._waiting}
            self._arrived.set()
            return False
        self._failures = 0
        return True

    async def close(self, task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if not await self.flush():
            log.error("invoice_links.lost", count=len(self._waiting))
