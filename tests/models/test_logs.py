"""Logging: one JSON event per line, context carried, and the bot token never printed."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from models.infra.logs import configure_logging, resolve_format
from models.infra.settings import LogFormat
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


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_default_format_is_for_whoever_reads_the_log() -> None:
    # A person at a terminal reads the console renderer; a file, a pipe or journald
    # gets one JSON event per line. LOG_FORMAT says otherwise when set.
    assert resolve_format(LogFormat.AUTO, _Terminal()) is LogFormat.CONSOLE
    assert resolve_format(LogFormat.AUTO, io.StringIO()) is LogFormat.JSON
    assert resolve_format("auto", io.StringIO()) is LogFormat.JSON
    assert resolve_format("json", _Terminal()) is LogFormat.JSON
    assert resolve_format("console", io.StringIO()) is LogFormat.CONSOLE


def test_auto_writes_json_when_the_log_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "auto", secrets=(TOKEN,))  # capsys's stderr is no terminal
    try:
        structlog.get_logger("api").info("request", status=201, note=f"bot{TOKEN}/x")
        [line] = capsys.readouterr().err.splitlines()
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    event = json.loads(line)
    assert (event["event"], event["status"], event["logger"]) == ("request", 201, "api")
    assert event["note"] == "bot<redacted-token>/x"


@pytest.mark.parametrize("cache_loggers", [False, True])
def test_events_below_the_level_are_not_written(
    capsys: pytest.CaptureFixture[str], cache_loggers: bool
) -> None:
    configure_logging("WARNING", "json", cache_loggers=cache_loggers)
    try:
        log = structlog.get_logger("bot")
        log.debug("a.detail")
        log.info("payment.credited", amount=100)
        log.warning("payment.anomaly", amount=100)
        logging.getLogger("aiogram.dispatcher").info("Start polling")
        events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert [(e["event"], e["level"]) for e in events] == [("payment.anomaly", "warning")]


def test_a_console_line_is_redacted_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "console", secrets=(TOKEN,))
    try:
        structlog.get_logger("bot").info("call.failed", url=f"https://x/bot{TOKEN}/getMe")
        logging.getLogger("aiohttp.client").warning("GET https://x/bot%s/getMe", TOKEN)
        text = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    assert len(text.splitlines()) == 2
    assert TOKEN.split(":")[1] not in text
    assert text.count("<redacted-token>") == 2
