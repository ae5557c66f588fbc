"""Request id and logging, JSON errors, CORS."""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from api.errors import (
    DATABASE_UNAVAILABLE,
    ApiError,
    error_response,
    from_http_exception,
    is_database_outage,
)
from api.refusals import refusal_response
from models.refusals import Refused

log = structlog.get_logger("api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# What a browser sends as Origin; "*" echoes only such a value, never arbitrary bytes.
ORIGIN_RE = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")
# Longer than a Telegram call may take (5 s), shorter than a client gives up.
REQUEST_TIMEOUT = 20.0
# Request ids: a random prefix per process and a counter, unique across processes and
# restarts without a system call and a UUID per request (uuid4 was both).
_ID_PREFIX = secrets.token_hex(12)  # with the counter, 32 hex digits like a UUID
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-Id", "")
    request_id = given if REQUEST_ID_RE.match(given) else new_request_id()
    started = time.perf_counter()
    # Bound, never unbound: aiohttp runs each request in a task of its own with a copy
    # of the connection's context (aiohttp #3406), so what is bound here (and the user
    # and order the views add) ends with the request.
    structlog.contextvars.bind_contextvars(request_id=request_id)
    # Said on the request's line: one line per request at INFO, whatever its outcome.
    outcome: dict[str, str] = {}
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            response = await handler(request)
    except ApiError as error:
        response = error.response()
    except Refused as refused:
        outcome["refusal"] = str(refused.code)
        response = refusal_response(refused)
    except web.HTTPException as error:
        response = from_http_exception(error)
    except Exception as error:
        if is_database_outage(error):
            log.error("request.database_unavailable", error=repr(error))
            response = DATABASE_UNAVAILABLE.response()
        else:
            log.exception("request.failed")
            response = error_response(
                500, "internal_error", "Something went wrong on our side. Please try again."
            )
    response.headers["X-Request-Id"] = request_id
    log.info(
        "request",
        method=request.method,
        path=request.path,
        status=response.status,
        ms=round((time.perf_counter() - started) * 1000, 1),
        **outcome,
    )
    return response


def cors(origins: list[str]) -> Middleware:
    allowed = set(origins)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin", "")
        permitted = origin in allowed or ("*" in allowed and bool(ORIGIN_RE.fullmatch(origin)))
        response: web.StreamResponse
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            if permitted:
                response = web.Response(status=204)
                response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
                response.headers["Access-Control-Allow-Headers"] = (
                    "Authorization, Content-Type, X-Request-Id"
                )
                response.headers["Access-Control-Max-Age"] = "600"
            else:
                response = error_response(
                    403, "origin_not_allowed", "This origin may not call the API."
                )
        else:
            response = await handler(request)
        if allowed:
            # The answer depends on Origin whether or not this one is let in: without
            # Vary a cache could hand one origin's answer (or its absence) to another.
            vary = response.headers.get("Vary")
            response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"
        if permitted:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "X-Request-Id, Retry-After"
        return response

    return middleware
