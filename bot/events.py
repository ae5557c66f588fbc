"""Delivers balance events (the `events` outbox, `models.events`) to the app's backend.

Each event is a signed `POST` to `EVENTS_URL` (Standard Webhooks headers beside the
older `Stars-Signature`, `models/events/signing.py`); a 2xx answer delivers it,
anything else (or no answer within EVENTS_TIMEOUT, 15 s) is tried again after a
growing, jittered delay, until it is delivered or three days old, when it is abandoned
(logged, counted, and left for `run_bot.py events redeliver`). A 429 or 503 with
`Retry-After` holds every delivery until then (the receiver asked to be left alone);
`410 Gone` marks the event `gone` and stops sending until the worker restarts, since
the receiver said it no longer wants them (counted and alerted; the events wait).
A user's events go out one at a time in the order they happened; several users' go
out at once, so one slow user holds up nobody else.

The table is read every half second, so an event written by any process (the API, a
script) goes out within a second without LISTEN/NOTIFY, which a PgBouncer in
transaction mode does not carry. On stop the requests in flight are cancelled and
their claims given back: the next start sends them at once, and the receiver may see
them twice (it deduplicates by id, as docs/events.md says).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
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
from models.events.signing import SigningKeys, signed_headers, stars_signature
from models.infra import metrics
from models.infra.settings import Settings
from models.kinds import EventState
from models.values import utcnow

log = structlog.get_logger("bot.events")

TIMEOUT = 15.0  # seconds the backend has to answer (Standard Webhooks: 15 to 30)
CONCURRENCY = 8  # users whose events are on their way at once
PER_SECOND = 50.0  # requests a second at most, overall
POLL_INTERVAL = 0.5  # how often the table is read for new and due events
FIRST_RETRY = 2.0  # seconds before the first retry; each later one doubles...
RETRY_CAP = 300.0  # ...up to five minutes
GIVE_UP_AFTER = timedelta(days=3)
CLAIM_SLACK = 5.0  # a claim outlasts the request by this much
GAUGE_INTERVAL = 5.0  # seconds between readings of the oldest undelivered event
RETRY_AFTER_CAP = 3600.0  # a Retry-After beyond an hour is taken as an hour
THROTTLED = frozenset({429, 503})  # the statuses whose Retry-After holds every delivery
GONE = 410  # the receiver asks not to be sent events any more

Clock = Callable[[], datetime]

sign = stars_signature  # the older header's value, kept under its old name


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A `Retry-After` header as seconds from `now` (delta-seconds or an HTTP date),
    at most RETRY_AFTER_CAP; None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to: `error` None when delivered; `retry_after` the
    seconds a 429/503 asked for; `gone` a 410."""

    error: str | None
    retry_after: float | None = None
    gone: bool = False


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
        keys: SigningKeys,
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
        self._keys = keys
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
        # No new delivery starts before this (a 429/503's Retry-After), or at all once
        # the receiver answered 410 Gone.
        self._held_until: datetime | None = None
        self.gone = False

    @classmethod
    def from_settings(cls, settings: Settings) -> EventSender | None:
        """The sender EVENTS_URL asks for, or None while events are off."""
        keys = settings.events_keys
        if settings.events_url is None or keys is None:
            return None
        return cls(settings.events_url, keys, timeout=settings.events_timeout)

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
                metrics.EVENTS_ENDPOINT_GONE.set(0)
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
        if free <= 0 or self.gone:
            return
        now = self.clock()
        if self._held_until is not None:
            if now < self._held_until:
                return
            self._held_until = None
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
        if self.gone:  # another delivery of this pass met a 410: give the claim back
            await release(event.id, self.clock())
            return
        await self._pace()
        outcome = await self._post(event.id, body)
        error = outcome.error
        now = self.clock()
        attempts = event.attempts + 1
        fields = {"event_id": public_id(event.id), "user_id": event.user_id, "attempts": attempts}
        if error is None:
            await finish(event.id, event.user_id, EventState.DELIVERED, now)
            metrics.EVENTS_DELIVERED.inc()
            log.info("event.delivered", **fields)
            return
        if outcome.gone:
            # The receiver asked to be disabled: this event is marked, the rest wait
            # (pending, in order) until the operator restarts the worker.
            self.gone = True
            metrics.EVENTS_ENDPOINT_GONE.set(1)
            await finish(event.id, event.user_id, EventState.GONE, now, error)
            metrics.EVENTS_GONE.inc()
            log.error("event.endpoint_gone", host=self.host, **fields)
            return
        give_up_at = event.queued_at + self.give_up_after
        if now >= give_up_at:
            await finish(event.id, event.user_id, EventState.ABANDONED, now, error)
            metrics.EVENTS_ABANDONED.inc()
            log.error("event.abandoned", error=error, **fields)
            return
        delay = retry_delay(attempts, self.jitter())
        if outcome.retry_after is not None:
            delay = max(delay, outcome.retry_after)
            held = now + timedelta(seconds=outcome.retry_after)
            self._held_until = max(self._held_until or held, held)
        await reschedule(
            event.id, attempts, min(now + timedelta(seconds=delay), give_up_at), error
        )
        metrics.EVENTS_RETRIED.inc()
        log.warning("event.retrying", error=error, retry_in=round(delay, 1), **fields)

    async def _post(self, event_id: uuid.UUID, body: bytes) -> Outcome:
        """Send one event and say how it went."""
        assert self._session is not None
        now = self.clock()
        headers = signed_headers(self._keys, public_id(event_id), int(now.timestamp()), body)
        try:
            async with self._session.post(
                self.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return Outcome(None)
                wait = None
                if status in THROTTLED:
                    wait = retry_after_seconds(response.headers.get("Retry-After"), now)
                return Outcome(f"HTTP {status}", retry_after=wait, gone=status == GONE)
        except TimeoutError:
            return Outcome("timeout")
        except aiohttp.ClientConnectorError:
            return Outcome("connection failed")
        except Exception as error:
            # Any failure of the request is a failed attempt, retried as the others:
            # one that escaped (aiohttp's UnicodeEncodeError for credentials it cannot
            # send) left the event claimed again and again with no attempt recorded.
            # The class says enough; its text may quote the URL or its credentials.
            return Outcome(type(error).__name__)

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
