"""Small builders shared by the tests: settings, signed initData, users and chats."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.test_utils import TestClient

from models.infra.settings import Settings

TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
OTHER_TOKEN = "654321:AAGotAnotherBotTokenForTheTests0123"
ADMIN: dict[str, Any] = {"id": 9000, "first_name": "Ada", "language_code": "en"}
ALICE: dict[str, Any] = {
    "id": 1001,
    "first_name": "Alice",
    "username": "alice",
    "language_code": "en",
}
BORIS: dict[str, Any] = {
    "id": 1002,
    "first_name": "Борис",
    "username": "boris",
    "language_code": "ru",
}
GROUP: dict[str, Any] = {"id": -1001234567890, "type": "supergroup", "title": "Stars fans"}


# A test client of the API's application.
ApiClient = TestClient[web.Request, web.Application]

# The `make_client` fixture (tests/api/conftest.py): settings overrides in, a TestClient out.
ClientFactory = Callable[..., Awaitable[ApiClient]]

CHARGE_ID_LENGTH = 131  # the longest Stars charge ids seen in public code


def cid(tag: str) -> str:
    """A charge id as long as Telegram's real ones, told apart by `tag` at its end."""
    filler = "stx" + hashlib.sha512(tag.encode()).hexdigest()
    return f"{filler[: CHARGE_ID_LENGTH - len(tag) - 1]}_{tag}"


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bot_token": TOKEN,
        "database_url": "sqlite://:memory:",
        "admin_ids": [ADMIN["id"]],
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


def sign_init_data(
    user: dict[str, Any] | None,
    *,
    token: str = TOKEN,
    auth_date: int | None = None,
    extra: dict[str, str] | None = None,
) -> str:
    """initData as Telegram signs it: HMAC-SHA256 keyed by HMAC("WebAppData", token)."""
    fields = {
        "auth_date": str(auth_date or int(time.time())),
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
    }
    if user is not None:
        fields["user"] = json.dumps(user, separators=(",", ":"), ensure_ascii=False)
    fields.update(extra or {})
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)


def tma(user: dict[str, Any] | None, **options: Any) -> dict[str, str]:
    return {"Authorization": f"tma {sign_init_data(user, **options)}"}


def metric(text: str, name: str, **labels: str) -> float:
    """A sample's value from Prometheus text (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
