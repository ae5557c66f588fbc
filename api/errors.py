"""Every failure becomes `{"error": {"code": ..., "message": ...}}` with a fitting status.

Codes are stable snake_case for programs; messages are sentences for people. A
client mistake is never a 500, and no stack trace ever reaches a client.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web
from tortoise.exceptions import BaseORMException, IntegrityError

# Statuses aiohttp raises by itself (routing, body size) and what we call them.
HTTP_CODES = {
    400: ("bad_request", "The request could not be understood."),
    401: ("unauthorized", "Sign-in data from Telegram is required."),
    404: ("not_found", "There is nothing at this address."),
    405: ("method_not_allowed", "This address does not accept that method."),
    413: ("payload_too_large", "The request body is larger than 64 KiB."),
    415: ("unsupported_media_type", "Send the body as JSON."),
}


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, self.headers)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


def from_http_exception(error: web.HTTPException) -> web.Response:
    code, message = HTTP_CODES.get(error.status, ("http_error", error.reason))
    headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
    return error_response(error.status, code, message, headers)


def is_database_outage(error: BaseException) -> bool:
    """True for errors that mean the database is away, not that a request was wrong."""
    if isinstance(error, IntegrityError):
        return False
    return isinstance(
        error,
        BaseORMException | asyncpg.PostgresError | asyncpg.InterfaceError | OSError | TimeoutError,
    )


DATABASE_UNAVAILABLE = ApiError(
    503, "database_unavailable", "The service is briefly unavailable. Please try again shortly."
)
