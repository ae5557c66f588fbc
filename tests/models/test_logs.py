"""Logging: one JSON event per line, context carried, and the bot token never printed."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from models.infra.logs import configure_logging
from tests.helpers import OTHER_TOKEN, TOKEN, make_settings


@pytest.fixture
def lines(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    configure_logging("INFO", "json", secrets=(TOKEN,))
    yield lambda: [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def test_the_token_is_redacted_from_messages_fields_and_tracebacks(lines) -> None:  # type: ignore[no-untyped-def]
    url = f"https://api.telegram.org/bot{TOKEN}/getUpdates"
    logging.getLogger("aiogram.event").warning("Request failed: %s", url)
    log = structlog.get_logger("bot")
    log.error("call.failed", url=url, nested={"urls": [url]}, other=f"bot{OTHER_TOKEN}/x")
    try:
        raise RuntimeError(f"cannot reach {url}")
    except RuntimeError:
        log.exception("call.crashed")
    events = lines()
    assert len(events) == 3
    text = json.dumps(events)
    assert TOKEN not in text
    assert TOKEN.split(":")[1] not in text
    assert OTHER_TOKEN.split(":")[1] not in text
    assert (
        events[0]["event"]
        == "Request failed: https://api.telegram.org/bot<redacted-token>/getUpdates"
    )
    assert "<redacted-token>" in events[2]["exception"]


def test_any_configured_secret_is_redacted_whatever_its_shape(
    capsys: pytest.CaptureFixture[str],
) -> None:
    service_key = "k" * 40  # no colon, nothing like a bot token
    configure_logging("INFO", "json", secrets=(TOKEN, service_key))
    try:
        structlog.get_logger("api").warning(
            "auth.odd", header=f"Bearer {service_key}", nested=[{"key": service_key}]
        )
        logging.getLogger("aiohttp.server").warning("GET /x?key=%s", service_key)
        text = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert service_key not in text
    assert text.count("<redacted-token>") == 3


def test_context_is_bound_per_update_or_request(lines) -> None:  # type: ignore[no-untyped-def]
    with structlog.contextvars.bound_contextvars(update_id=7, user_id=42):
        structlog.get_logger("bot").info("payment.credited", amount=100)
    [event] = lines()
    assert event | {"timestamp": None} == {
        "event": "payment.credited",
        "amount": 100,
        "update_id": 7,
        "user_id": 42,
        "level": "info",
        "logger": "bot",
        "timestamp": None,
    }


def test_database_pool_retries_are_one_line_each(lines) -> None:  # type: ignore[no-untyped-def]
    try:
        raise ConnectionRefusedError(111, "Connect call failed")
    except ConnectionRefusedError:
        logging.getLogger("asyncpg.pool").warning(
            "Failed to restore the pool connection floor; retrying", exc_info=True
        )
    [event] = lines()
    assert "exception" not in event
    assert event["event"] == (
        "Failed to restore the pool connection floor; retrying: "
        "ConnectionRefusedError(111, 'Connect call failed')"
    )


def test_the_database_passwords_are_redacted_in_either_spelling(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings(
        database_url="postgres://stars:pool%2FPass@pooler:6432/stars?pgbouncer=true",
        database_direct_url="postgres://stars:direct%23Pass@db:5432/stars",
    )
    configure_logging("INFO", "json", secrets=settings.secrets)
    try:
        log = structlog.get_logger("bot")
        log.error("db.failed", dsn=settings.database_url, password="pool/Pass")
        logging.getLogger("asyncpg.pool").warning("cannot connect as stars:direct#Pass@db")
        text = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert "Pass" not in text
    assert "pgbouncer=true" in text  # the options are not secrets
