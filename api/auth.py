"""Who is calling: the Mini App's `initData`, sent as `Authorization: tma <initData>`.

The check is Telegram's HMAC rule for Mini App data (the same as aiogram's
`check_webapp_signature`), done here in one pass over the query string: aiogram's
`safe_parse_webapp_init_data` parses it twice and builds a pydantic model, which
cost more than the rest of the check on every request. Telegram sets no lifetime,
so the age is checked here: at most INIT_DATA_MAX_AGE old and no more than a minute
in the future.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from api.errors import ApiError
from models.values import Profile

CLOCK_SKEW = 60
HASH_SHAPE = re.compile(r"[0-9a-f]{64}")
# The users.id column is a signed 64-bit integer (Telegram's ids use at most 52 bits).
MAX_USER_ID = 2**63 - 1


def init_data_secret(token: str) -> bytes:
    """HMAC_SHA256(key="WebAppData", msg=token): computed once per process."""
    return hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()


def query_fields(query: str) -> dict[str, str] | None:
    """`dict(parse_qsl(query, keep_blank_values=True, strict_parsing=True))`, or None
    where that raises. parse_qsl decodes every key and value whether or not it holds
    an escape, which made it the costliest step of checking a request's initData."""
    fields: dict[str, str] = {}
    if not query:
        return fields
    for part in query.split("&"):
        key, separator, value = part.partition("=")
        if not separator:
            return None
        if "%" in key or "+" in key:
            key = unquote_plus(key)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        fields[key] = value
    return fields


def verified_fields(secret: bytes, init_data: str) -> dict[str, str] | None:
    """The fields of `init_data` if its `hash` is right for this bot, else None.

    Every field but `hash` (`signature` included) is signed: sorted `key=value`
    lines of the decoded values, empty ones too (aiogram drops those and so refuses
    such data).
    """
    # Telegram percent-encodes initData, so it is ASCII; a header with other bytes
    # (decoded by aiohttp to lone surrogates) cannot be encoded to sign below.
    if not init_data.isascii():
        return None
    fields = query_fields(init_data)
    if fields is None:
        return None
    given = fields.pop("hash", "")
    if not HASH_SHAPE.fullmatch(given):  # compare_digest raises on non-ASCII text
        return None
    signed = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    expected = hmac.new(secret, signed.encode(), hashlib.sha256).hexdigest()
    return fields if hmac.compare_digest(expected, given) else None


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, {"WWW-Authenticate": "tma"})


def _text(value: Any, limit: int) -> str | None:
    # Cut to the column widths; Telegram's own limits are shorter.
    return value[:limit] if isinstance(value, str) else None


def authenticate(request: web.Request, secret: bytes, max_age: int) -> Profile:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    raw = raw.strip()
    if scheme.lower() != "tma" or not raw:
        raise _unauthorized(
            "missing_init_data",
            "Send Telegram.WebApp.initData in the header 'Authorization: tma <initData>'.",
        )
    invalid = _unauthorized(
        "invalid_init_data", "The Telegram sign-in data is not valid for this bot."
    )
    fields = verified_fields(secret, raw)
    if fields is None:
        raise invalid
    try:
        age = time.time() - int(fields["auth_date"])
    except (KeyError, ValueError):
        raise invalid from None
    if age > max_age:
        raise _unauthorized(
            "init_data_expired", "The Telegram sign-in data has expired. Reopen the app."
        )
    if age < -CLOCK_SKEW:
        raise _unauthorized(
            "invalid_init_data", "The Telegram sign-in data is dated in the future."
        )
    if "user" not in fields:
        raise _unauthorized("init_data_without_user", "The Telegram sign-in data names no user.")
    try:
        user = json.loads(fields["user"])
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can go
        raise invalid from None
    user_id = user.get("id") if isinstance(user, dict) else None
    if type(user_id) is not int or not 0 < user_id <= MAX_USER_ID:
        raise invalid
    return Profile(
        user_id,
        _text(user.get("username"), 64),
        _text(user.get("first_name"), 128),
        _text(user.get("language_code"), 16),
    )
