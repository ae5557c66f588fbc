"""Who is calling: the Mini App's `initData`, sent as `Authorization: tma <initData>`.

The HMAC check is aiogram's; it does not look at `auth_date`, so the age is checked
here (at most INIT_DATA_MAX_AGE old and no more than a minute in the future).
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram.utils.web_app import safe_parse_webapp_init_data
from aiohttp import web

from api.errors import ApiError
from models.money import Profile

CLOCK_SKEW = 60


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, {"WWW-Authenticate": "tma"})


def authenticate(request: web.Request, token: str, max_age: int) -> Profile:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    raw = raw.strip()
    if scheme.lower() != "tma" or not raw:
        raise _unauthorized(
            "missing_init_data",
            "Send Telegram.WebApp.initData in the header 'Authorization: tma <initData>'.",
        )
    try:
        data = safe_parse_webapp_init_data(token, raw)
    except Exception:  # any malformed or forged input is the same to the caller
        raise _unauthorized(
            "invalid_init_data", "The Telegram sign-in data is not valid for this bot."
        ) from None
    age = (datetime.now(UTC) - data.auth_date).total_seconds()
    if age > max_age:
        raise _unauthorized(
            "init_data_expired", "The Telegram sign-in data has expired. Reopen the app."
        )
    if age < -CLOCK_SKEW:
        raise _unauthorized(
            "invalid_init_data", "The Telegram sign-in data is dated in the future."
        )
    if data.user is None:
        raise _unauthorized("init_data_without_user", "The Telegram sign-in data names no user.")
    user = data.user
    return Profile(user.id, user.username, user.first_name, user.language_code)
