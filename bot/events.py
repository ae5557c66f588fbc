"""Delivers balance events (the `events` outbox, `models.events`) to the app's backend.

Each event is a signed `POST` to `EVENTS_URL`; a 2xx answer delivers it, anything else
(or no answer within 10 s) is tried again after a growing, jittered delay, until it
is delivered or three days old, when it is abandoned (logged, counted, and left for
`run_bot.py events redeliver`). A user's events go out one at a time in the order they
happened; several users' go out at once, so one slow user holds up nobody else.

The table is read every half second, so an event written by any process (the API, a
script) goes out within a second without LISTEN/NOTIFY, which a PgBouncer in
transaction mode does not carry. On stop the requests in flight are cancelled and
their claims given back: the next start sends them at once, and the receiver may see
them twice (it deduplicates by id, as docs/events.md says).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import random
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
import structlog

from models.events.delivery import (
    Claimed,
    claim_due,
    event_body,
    finish,
    oldest_pending,
    public_id,
    release,
    repair_heads,
    reschedule,
)
from models.events.outbox import switch_events
from models.infra import metrics
from models.infra.settings import Settings
from models.kinds import EventState
from models.values import utcnow

log = structlog.get_logger("bot.events")

TIMEOUT = 10.0  # seconds the backend has to answer
CONCURRENCY = 8  # users whose events are on their way at once
PER_SECOND = 50.0  # requests a second at most, overall
POLL_INTERVAL = 0.5  # how often the table is read for new and due events
FIRST_RETRY = 2.0  # seconds before the first retry; each later one doubles...
RETRY_CAP = 300.0  # ...up to five minutes
GIVE_UP_AFTER = timedelta(days=3)
CLAIM_SLACK = 5.0  # a claim outlasts the request by this much
GAUGE_INTERVAL = 5.0  # seconds between readings of the oldest undelivered event

Clock = Callable[[], datetime]


def sign(key: bytes, timestamp: int, body: bytes) -> str:
    """The `Stars-Signature` value: HMAC-SHA256 of "<timestamp>.<raw body>"."""
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def retry_delay(failures: int, jitter: float) -> float:
    """Seconds before the next try after `failures` failed ones; `jitter` in [0, 1)
    spreads retries between half and all of the doubling step, so a backend coming
    back is not hit by every waiting event at the same moment."""
    step = min(RETRY_CAP, FIRST_RETRY * 2.0 ** min(failures - 1, 32))
    return step * (0.5 + jitter / 2)


class EventSender:
    def __init__(
        self,
        url: str,
        key: bytes,
        *,
        clock: Clock = utcnow,
        jitter: Callable[[], float] = random.random,
        timeout: float = TIMEOUT,
        concurrency: int = CONCURRENCY,
        per_second: float = PER_SECOND,
        poll_interval: float = POLL_INTERVAL,
        give_up_after: timedelta = GIVE_UP_AFTER,
    ) -> None:
        self.url = url
        self._key = key
        self.clock = clock
        self.jitter = jitter
        self.timeout = timeout
        self.concurrency = concurrency
        self.interval = 1.0 / per_second
        self.poll_interval = poll_interval
        self.give_up_after = give_up_after
        # Where events go, for the logs: never the path or query, which may carry a key.
        self.host = urlsplit(url).hostname or "?"
        self._wake = asyncio.Event()
        self._next_slot = 0.0
        self._deliveries: set[asyncio.Task[None]] = set()
        self._busy: set[int] = set()
        self._unsettled: dict[uuid.UUID, Claimed] = {}
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> EventSender | None:
        """The sender EVENTS_URL asks for, or None while events are off."""
        key = settings.events_key
        if settings.events_url is None or key is None:
            return None
        return cls(settings.events_url, key)

    async def run(self) -> None:
        await self._start()
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout)
        ) as session:
            self._session = session
            try:
                await self._loop()
            finally:
                await self._stop_deliveries()

    async def _start(self) -> None:
        """Turn events on for every process writing the ledger; retried while the
        database is away."""
        delay = 1.0
        while True:
            try:
                await switch_events(True)
                repaired = await repair_heads(self.clock())
                break
            except Exception as error:
                log.warning("events.start_failed", error=repr(error), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        if repaired:
            log.warning("events.heads_repaired", users=repaired)
        log.info("events.sending", host=self.host, concurrency=self.concurrency)

    async def _loop(self) -> None:
        failures = 0
        next_gauge = 0.0
        while True:
            self._wake.clear()
            wait = self.poll_interval
            try:
                await self._claim_and_send()
                if time.monotonic() >= next_gauge:
                    await self._measure()
                    next_gauge = time.monotonic() + GAUGE_INTERVAL
                failures = 0
            except Exception as error:  # the database is away: try again later
                failures += 1
                wait = min(self.poll_interval * 2**failures, 10.0)
                log.warning("events.pass_failed", error=repr(error), retry_in=wait)
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
                # cancellation that lands as the event is set, and shutdown hangs.
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def _claim_and_send(self) -> None:
        free = self.concurrency - len(self._deliveries)
        if free <= 0:
            return
        now = self.clock()
        claimed = await claim_due(now, free, now + timedelta(seconds=self.timeout + CLAIM_SLACK))
        by_user: dict[int, list[Claimed]] = {}
        for event in claimed:
            # A user whose event is still on its way here (its claim ran out under a
            # clock that jumped) waits for it; what that delivery records wins.
            if event.user_id not in self._busy:
                by_user.setdefault(event.user_id, []).append(event)
        for user_id, events in by_user.items():
            self._busy.add(user_id)
            self._unsettled.update((event.id, event) for event in events)
            task = asyncio.create_task(self._deliver_all(user_id, events))
            self._deliveries.add(task)
            task.add_done_callback(self._delivery_done)

    def _delivery_done(self, task: asyncio.Task[None]) -> None:
        self._deliveries.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            # The database failed while recording the outcome: the claim runs out
            # and the event goes again (the backend may see it twice).
            log.warning("event.not_recorded", error=repr(task.exception()))

    async def _deliver_all(self, user_id: int, events: list[Claimed]) -> None:
        try:
            for event in events:
                await self._deliver(event)
                self._unsettled.pop(event.id, None)
        finally:
            self._busy.discard(user_id)

    async def _deliver(self, event: Claimed) -> None:
        body = await event_body(event.id)
        if body is None:  # deleted by hand since it was claimed
            return
        await self._pace()
        error = await self._post(event.id, body)
        now = self.clock()
        attempts = event.attempts + 1
        fields = {"event_id": public_id(event.id), "user_id": event.user_id, "attempts": attempts}
        if error is None:
            await finish(event.id, event.user_id, EventState.DELIVERED, now)
            metrics.EVENTS_DELIVERED.inc()
            log.info("event.delivered", **fields)
            return
        give_up_at = event.queued_at + self.give_up_after
        if now >= give_up_at:
            await finish(event.id, event.user_id, EventState.ABANDONED, now, error)
            metrics.EVENTS_ABANDONED.inc()
            log.error("event.abandoned", error=error, **fields)
            return
        delay = retry_delay(attempts, self.jitter())
        await reschedule(
            event.id, attempts, min(now + timedelta(seconds=delay), give_up_at), error
        )
        metrics.EVENTS_RETRIED.inc()
        log.warning("event.retrying", error=error, retry_in=round(delay, 1), **fields)

    async def _post(self, event_id: uuid.UUID, body: bytes) -> str | None:
        """Send one event; None when the backend took it, else what went wrong."""
        assert self._session is not None
        headers = {
            "Content-Type": "application/json",
            "Stars-Event-Id": public_id(event_id),
            "Stars-Signature": sign(self._key, int(self.clock().timestamp()), body),
        }
        try:
            async with self._session.post(
                self.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                return None if 200 <= response.status < 300 else f"HTTP {response.status}"
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientConnectorError:
            return "connection failed"
        except Exception as error:
            # Any failure of the request is a failed attempt, retried as the others:
            # one that escaped (aiohttp's UnicodeEncodeError for credentials it cannot
            # send) left the event claimed again and again with no attempt recorded.
            # The class says enough; its text may quote the URL or its credentials.
            return type(error).__name__

    async def _pace(self) -> None:
        """At most `per_second` requests a second, whatever the concurrency."""
        now = time.monotonic()
        slot = max(now, self._next_slot)
        self._next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)

    async def _measure(self) -> None:
        oldest = await oldest_pending()
        age = (self.clock() - oldest).total_seconds() if oldest else 0.0
        metrics.EVENTS_OLDEST_UNDELIVERED.set(max(age, 0.0))

    async def _stop_deliveries(self) -> None:
        tasks = list(self._deliveries)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        given_back = 0
        # Claims given back are due at once for the next start; if the database does
        # not answer now, they run out by themselves within seconds.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                for event_id in list(self._unsettled):
                    await release(event_id, self.clock())
                    self._unsettled.pop(event_id, None)
                    given_back += 1
        log.info("events.stopped", given_back=given_back)
