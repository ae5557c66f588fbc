"""Reading request bodies: on time, whole, and as the JSON object an endpoint expects.

Every failure is a 4xx with a stable code (api.errors): a client can send anything.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from api.errors import ApiError
from api.middlewares import Handler

log = structlog.get_logger("api")
# Our bodies are a few dozen bytes that travel with the headers; even a mobile link
# that loses packets (retransmits after 1, 2 s) delivers them well within 5 s, and a
# client slower than that is holding a connection, not sending a payment.
BODY_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class _Unreceived:
    """Why a body could not be received, and what to log once the request is ours."""

    error: Exception
    event: str
    fields: dict[str, Any]


_unreceived = web.RequestKey("unreceived_body", _Unreceived)


@web.middleware
async def receive_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Wait for a body still on its way before the request goes further.

    Placed before the in-flight bound (api/overload.py): a client that sends its headers
    and withholds its body is not being worked on, and must not hold one of the slots
    the others need (eight such connections refused everyone for BODY_TIMEOUT). What
    goes wrong is kept for `read_body`, which raises it inside the request's context,
    so a handler that needs no body answers as it would have.
    """
    if not request.content.is_eof():  # ours come with the headers: no timer, no task
        try:
            async with asyncio.timeout(BODY_TIMEOUT):
                await request.read()  # kept by aiohttp: read_body gets it from there
        except TimeoutError:
            error = ApiError(
                408,
                "request_timeout",
                f"The request body did not arrive within {BODY_TIMEOUT:g} seconds.",
                close=True,
            )
            request[_unreceived] = _Unreceived(
                error, "request.body_timeout", {"seconds": BODY_TIMEOUT}
            )
        except (RequestPayloadError, ConnectionError) as failure:
            # A body that contradicts its Content-Encoding or chunking, or a client gone midway.
            error = ApiError(
                400, "unreadable_body", "The request body could not be read.", close=True
            )
            request[_unreceived] = _Unreceived(
                error, "request.body_unreadable", {"error": type(failure).__name__}
            )
        except web.HTTPException as refusal:  # over client_max_size: a 413
            request[_unreceived] = _Unreceived(refusal, "request.body_too_large", {})
    return await handler(request)


async def read_body(request: web.Request) -> bytes:
    """The whole body (received by `receive_body`), or the 4xx it came to: too slow,
    cut off, too large or undecodable.

    Without a deadline of its own a client trickling its body would hold the request
    until REQUEST_TIMEOUT and be answered as a database outage."""
    unreceived = request.get(_unreceived)
    if unreceived is not None:
        log.info(unreceived.event, **unreceived.fields)
        raise unreceived.error
    return await request.read()


async def read_object(
    request: web.Request, example: str, *, optional: bool = False
) -> dict[str, Any]:
    """The body as a JSON object (`example` shows one in the error); an empty body is
    {} when `optional`."""
    raw = await read_body(request)
    if optional and not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can go
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", f"The body must be a JSON object like {example}.")
    return body


MAX_DEV_CREDIT = 1_000_000  # Stars one /dev/add-stars may credit


async def read_amount(request: web.Request) -> int:
    """The body must be a JSON object whose `amount` is a JSON integer."""
    amount = (await read_object(request, '{"amount": 100}')).get("amount")
    if type(amount) is not int:  # bool is an int subclass; "100" and 100.5 are not ints
        raise ApiError(400, "invalid_amount", "amount must be a whole number of Stars.")
    return amount
