"""Invoice links: one `createInvoiceLink` call per order, and the links stored on their
orders in batches, behind the requests.

Presses of Buy racing for one order all get it back before its link is stored; each
asked Telegram for a link of its own (200 presses, 200 calls, past the per-minute
limit on orders, which only counts new ones). Here the first press's call is the
one every other press of that order waits for, and a link made here is remembered
until it is surely stored, so that a press that read the order just before the
write still finds it. One process, one call: presses that reach different API
processes at the same moment may each make one.

The link is a record for the operator; nothing decides anything by it (an invoice's
payload is its order id). Writing it in the request cost a database round trip per
top-up, as much as opening the order; one statement every FLUSH_INTERVAL instead
holds any number of them. A crash loses at most that interval's links (the orders
stay payable); stopping the API writes what is waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog

from models.orders.opening import attach_invoices

log = structlog.get_logger("api")
FLUSH_INTERVAL = 0.05
# While the database is down no order opens, so nothing new piles up: retry, slower.
MAX_RETRY_DELAY = 5.0
# Links are remembered for between this long and twice this long after they were
# made: far longer than a press takes from reading its order to looking here, and
# short enough that a spike's links cost a few megabytes at most.
REMEMBER = 5.0


class InvoiceLinks:
    def __init__(self, interval: float = FLUSH_INTERVAL) -> None:
        self._interval = interval
        self._waiting: dict[uuid.UUID, str] = {}  # not written yet
        self._writing: dict[uuid.UUID, str] = {}
        self._recent: dict[uuid.UUID, str] = {}  # made here lately, written or not
        self._older: dict[uuid.UUID, str] = {}
        self._rotated_at = time.monotonic()
        self._calls: dict[uuid.UUID, asyncio.Future[str]] = {}
        self._failures = 0
        self._arrived = asyncio.Event()

    async def link(self, order_id: uuid.UUID, ask: Callable[[], Awaitable[str]]) -> str:
        """The order's link: one made here, the one being asked for, or a new one from
        `ask` (whose failure every press waiting for it gets). A press that gives up
        waiting leaves the call to the others."""
        known = self.known(order_id)
        if known is not None:
            return known
        call = self._calls.get(order_id)
        if call is None:
            call = self._calls[order_id] = asyncio.ensure_future(ask())
            call.add_done_callback(lambda done: self._answered(order_id, done))
        return await asyncio.shield(call)

    def _answered(self, order_id: uuid.UUID, call: asyncio.Future[str]) -> None:
        del self._calls[order_id]
        # Read even when nobody waits any more: an unread failure would be logged.
        if not call.cancelled() and call.exception() is None:
            self.add(order_id, call.result())

    def known(self, order_id: uuid.UUID) -> str | None:
        """The order's link if it was made here lately."""
        for links in (self._recent, self._older, self._waiting, self._writing):
            if (found := links.get(order_id)) is not None:
                return found
        return None

    def add(self, order_id: uuid.UUID, invoice_url: str) -> None:
        self._waiting[order_id] = invoice_url
        now = time.monotonic()
        if now - self._rotated_at >= REMEMBER:
            self._older, self._recent, self._rotated_at = self._recent, {}, now
        self._recent[order_id] = invoice_url
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
        self._writing = batch
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
        finally:
            self._writing = {}
        self._failures = 0
        return True

    async def close(self, task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if not await self.flush():
            log.error("invoice_links.lost", count=len(self._waiting))
