"""Reading request bodies: on time, whole, and as the JSON object an endpoint expects.

Every failure is a 4xx with a stable code (api.errors): a client can send anything.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from api.errors import ApiError

log = structlog.get_logger("api")
# Our bodies are a few dozen bytes that travel with the headers; even a mobile link
# that loses packets (retransmits after 1, 2 s) delivers them well within 5 s, and a
# client slower than that is holding a connection, not sending a payment.
BODY_TIMEOUT = 5.0


async def read_body(request: web.Request) -> bytes:
    """The whole body, or a 4xx when it is too slow, cut off or undecodable.

    Without a deadline of its own a client trickling its body would hold the request
    until REQUEST_TIMEOUT and be answered as a database outage."""
    try:
        if request.content.is_eof():  # all of it came with the headers, as ours do: no timer
            return await request.read()
        async with asyncio.timeout(BODY_TIMEOUT):
            return await request.read()
    except TimeoutError:
        log.info("request.body_timeout", seconds=BODY_TIMEOUT)
        raise ApiError(
            408,
            "request_timeout",
            f"The request body did not arrive within {BODY_TIMEOUT:g} seconds.",
            close=True,
        ) from None
    except (RequestPayloadError, ConnectionError) as error:
        # A body that contradicts its Content-Encoding or chunking, or a client gone midway.
        log.info("request.body_unreadable", error=type(error).__name__)
        raise ApiError(
            400, "unreadable_body", "The request body could not be read.", close=True
        ) from None


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


async def read_amount(request: web.Request) -> int:
    """The body must be a JSON object whose `amount` is a JSON integer."""
    amount = (await read_object(request, '{"amount": 100}')).get("amount")
    if type(amount) is not int:  # bool is an int subclass; "100" and 100.5 are not ints
        raise ApiError(400, "invalid_amount", "amount must be a whole number of Stars.")
    return amount
