"""Every failure becomes `{"error": {"code": ..., "message": ...}}` with a fitting status.

Codes are stable snake_case for programs; messages are sentences for people. A
client mistake is never a 500, and no stack trace ever reaches a client.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web
from tortoise.exceptions import BaseORMException, IntegrityError

from api.shapes import Error

# Statuses aiohttp raises by itself (routing, body size) and what we call them.
HTTP_CODES = {
    400: ("bad_request", "The request could not be understood."),
    401: ("unauthorized", "Sign-in data from Telegram is required."),
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This address does not accept that method."),
    413: ("payload_too_large", "The request body is larger than 64 KiB."),
    415: ("unsupported_media_type", "Send the body as JSON."),
}


# What an aiohttp HTTPException says that the client needs: Allow on 405, Location on 3xx.
KEPT_HEADERS = ("Allow", "Location")


class ApiError(Exception):
    """`close`: end the connection after answering, as when the body was not read."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        *,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.close = close

    def response(self) -> web.Response:
        response = error_response(self.status, self.code, self.message, self.headers)
        if self.close:
            response.force_close()
        return response


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    answer: Error = {"error": {"code": code, "message": message}}
    return web.json_response(answer, status=status, headers=headers)


def from_http_exception(error: web.HTTPException) -> web.Response:
    headers = {name: error.headers[name] for name in KEPT_HEADERS if name in error.headers}
    if error.status < 400:  # a redirect (/app -> /app/) is not an error: keep it one
        return web.Response(status=error.status, headers=headers)
    code, message = HTTP_CODES.get(error.status, ("http_error", error.reason))
    return error_response(error.status, code, message, headers)


def is_database_outage(error: BaseException) -> bool:
    """True for errors that mean the database is away, not that a request was wrong."""
    if isinstance(error, IntegrityError):
        return False
    return isinstance(
        error,
        BaseORMException | asyncpg.PostgresError | asyncpg.InterfaceError | OSError | TimeoutError,
    )


INTERNAL_ERROR = "internal_error"
INTERNAL_MESSAGE = "Something went wrong on our side. Please try again."

DATABASE_UNAVAILABLE = ApiError(
    503, "database_unavailable", "The service is briefly unavailable. Please try again shortly."
)
