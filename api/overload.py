"""Overload is shed at once: beyond API_MAX_IN_FLIGHT requests in the works, a 503.

Without a bound, a spike larger than the process can answer queues without end: every
request waits behind all the others, the slowest for tens of seconds, until clients
give up and retry into the queue. With one, the requests taken keep their latency (at
most about the bound divided by the rate the process answers), and the rest learn in
a moment to come back (`Retry-After`). Health and metrics are never shed: a process
that is busy is not down, and its metrics matter most then.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from api.errors import ApiError
from api.middlewares import Handler
from models import metrics

# Never counted nor refused.
EXEMPT = frozenset({"/health", "/metrics"})
RETRY_AFTER = 1

OVERLOADED = ApiError(
    503,
    "overloaded",
    "The service is busy right now. Nothing was done; please try again in a moment.",
    {"Retry-After": str(RETRY_AFTER)},
)


class InFlight:
    """How many requests are being worked on, and the bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0


def shed_overload(in_flight: InFlight) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in EXEMPT:
            return await handler(request)
        if in_flight.count >= in_flight.limit:
            metrics.REQUESTS_SHED.inc()
            return OVERLOADED.response()
        in_flight.count += 1
        try:
            return await handler(request)
        finally:
            in_flight.count -= 1

    return middleware
