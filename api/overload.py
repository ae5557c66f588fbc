"""Overload is shed at once: beyond API_MAX_IN_FLIGHT requests in the works, a 503.

Without a bound, a spike larger than the process can answer queues without end: every
request waits behind all the others, the slowest for tens of seconds, until clients
give up and retry into the queue. With one, the requests taken keep their latency (at
most about the bound divided by the rate the process answers), and the rest learn in
a moment to come back (`Retry-After`). Health and metrics are never shed: a process
that is busy is not down, and its metrics matter most then.

Only a request that has all it needs is counted: one whose body is still on its way
waits for it before this bound (`api.bodies.receive_body`), holding no slot, so that
clients withholding their bodies cannot fill the bound and refuse everyone else. Once
the body is in, the work is authenticating (an HMAC, microseconds) and answering.

A shed request costs as little as it can, since an overloaded process can least
afford it: it is refused before the request context (no request id, no log line of
its own), counted in `stars_api_requests_shed_total`, and summed up in one warning a
second at most. The connection stays open.
"""

from __future__ import annotations

import json
import time

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from api.middlewares import Handler
from models.infra import metrics

log = structlog.get_logger("api")
# Never counted nor refused.
EXEMPT = frozenset({"/health", "/metrics"})
RETRY_AFTER = 1
CODE = "overloaded"
MESSAGE = "The service is busy right now. Nothing was done; please try again in a moment."
_BODY = json.dumps({"error": {"code": CODE, "message": MESSAGE}}).encode()
LOG_EVERY = 1.0  # seconds between summaries while shedding


class InFlight:
    """How many requests are being worked on, and the bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self._shed = 0  # since the last summary
        self._logged_at = 0.0

    def shed(self) -> web.Response:
        metrics.REQUESTS_SHED.inc()
        self._shed += 1
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY:
            log.warning("api.overloaded", shed=self._shed, in_flight=self.count)
            self._shed, self._logged_at = 0, now
        return web.Response(
            status=503,
            body=_BODY,
            content_type="application/json",
            headers={"Retry-After": str(RETRY_AFTER)},
        )


def shed_overload(in_flight: InFlight) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in EXEMPT:
            return await handler(request)
        if in_flight.count >= in_flight.limit:
            return in_flight.shed()
        in_flight.count += 1
        try:
            return await handler(request)
        finally:
            in_flight.count -= 1

    return middleware
