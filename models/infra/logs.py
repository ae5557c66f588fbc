"""structlog set-up shared by both processes.

One event per line, console or JSON: the console renderer when the log goes to a
terminal, JSON when it goes anywhere else (a file, a pipe, journald), unless LOG_FORMAT
says which. Our own events go straight from structlog to stderr (no standard-library
LogRecord, handler or formatter on the way: that path cost 70-100 µs a line, a quarter of
a top-up's CPU); the standard library's loggers (aiogram, aiohttp, tortoise) go through
the same processors by a ProcessorFormatter. On both paths every line passes a redaction
step before it is rendered, so the bot token cannot leak through an exception text or a
request URL (aiogram puts the token in the path of every Bot API call).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import Any

import asyncpg
import structlog
from tortoise.exceptions import BaseORMException

from models.infra.settings import LogFormat

# Any bot token, not only ours: a log line could carry one from a forwarded error.
_TOKEN_RE = re.compile(r"\d{3,20}:[A-Za-z0-9_-]{20,}")
REDACTED = "<redacted-token>"
# Failures of what a process depends on (Telegram, the database, the network): their
# text says what happened, a traceback would add nothing.
OUTSIDE_FAILURES: tuple[type[BaseException], ...] = (
    BaseORMException,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` without our secrets (any shape) and without anything shaped like a token."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    if ":" not in text:  # every token has one; most log values do not
        return text
    return _TOKEN_RE.sub(REDACTED, text)


_PLAIN = frozenset({int, float, bool, type(None)})  # exactly these: a subclass's str() may differ


class _Redactor:
    def __init__(self, secrets: tuple[str, ...]) -> None:
        # Longest first: a secret inside another (a password in its URL's userinfo)
        # must not be replaced first and leave the rest of the longer one showing.
        self.secrets = tuple(sorted(set(secrets), key=len, reverse=True))

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, self.secrets)
        if isinstance(value, dict):
            return {key: self._clean(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._clean(item) for item in value)
        if isinstance(value, int | float | bool) or value is None:
            return value
        return redact(str(value), self.secrets)

    def __call__(
        self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        clean = self._clean
        # Numbers (most fields of a request or money line) pass without a call.
        return {
            key: value if type(value) in _PLAIN else clean(value)
            for key, value in event_dict.items()
        }


def _one_line(record: logging.LogRecord) -> bool:
    """asyncpg retries a lost pool connection every second during an outage and logs a
    full traceback each time; the error's text says enough."""
    if record.exc_info and record.exc_info[1] is not None:
        record.msg = f"{record.getMessage()}: {record.exc_info[1]!r}"
        record.args = None
        record.exc_info = None
    return True


_CLIENT_BYTES = re.compile(r": b['\"]")  # where aiohttp starts quoting what it was sent


def _client_fault(record: logging.LogRecord) -> bool:
    """aiohttp answers a request it cannot parse (a header over 8 KiB, bytes that are not
    HTTP, a body that contradicts its Content-Encoding) with a 400 itself, before our
    app runs, and logs it as an ERROR with a traceback. It is the client's mistake: one
    INFO line, the reason without the client's bytes, or nothing below INFO."""
    # Imported here: only a process serving HTTP logs to aiohttp.server, and an operator
    # command should not pay for loading aiohttp.
    from aiohttp.http_exceptions import HttpProcessingError
    from aiohttp.web_protocol import RequestPayloadError

    error = record.exc_info[1] if record.exc_info else None
    if record.levelno <= logging.INFO or not isinstance(
        error, HttpProcessingError | RequestPayloadError
    ):
        return True
    if not logging.getLogger(record.name).isEnabledFor(logging.INFO):
        return False
    reason = str(getattr(error.__cause__ or error, "message", "") or type(error).__name__)
    record.error = _CLIENT_BYTES.split(reason.split("\n", 1)[0], maxsplit=1)[0].rstrip(":. ")
    if isinstance(record.args, tuple) and record.args:  # "Error handling request from %s"
        record.remote = record.args[0]
    record.msg, record.args, record.exc_info = "http.bad_request", None, None
    record.levelno, record.levelname = logging.INFO, "INFO"
    return True


# One lock for both paths to stderr, so that a line from a thread (aiogram runs
# synchronous filters in a pool) is never written into the middle of another.
_WRITE_LOCK = threading.RLock()  # re-entered: logging.shutdown flushes holding it


# StreamHandler is generic only to checkers; subscripting it fails at run time.
class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is now (test capture swaps it), not at set-up."""

    def createLock(self) -> None:  # logging calls it from __init__
        self.lock = _WRITE_LOCK

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _StderrLogger:
    """What structlog hands our rendered events to: one write of the line to whatever
    sys.stderr is now, as _StderrHandler does. `name` is for add_logger_name."""

    __slots__ = ("name",)

    def __init__(self, name: str = "") -> None:
        self.name = name

    def msg(self, line: str) -> None:
        with _WRITE_LOCK:
            stream = sys.stderr
            stream.write(line + "\n")
            stream.flush()

    # structlog calls the method named like the event's level.
    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _logger_factory(*args: Any) -> _StderrLogger:
    return _StderrLogger(str(args[0]) if args else "")


def resolve_format(fmt: LogFormat | str, stream: Any = None) -> LogFormat:
    """`auto`: the console renderer for a person at a terminal, JSON for anything else
    (a file, a pipe, journald, a container's log): structlog's own advice."""
    fmt = LogFormat(fmt)
    if fmt is not LogFormat.AUTO:
        return fmt
    isatty = getattr(stream if stream is not None else sys.stderr, "isatty", None)
    try:
        return LogFormat.CONSOLE if isatty is not None and isatty() else LogFormat.JSON
    except ValueError:  # a closed stream
        return LogFormat.JSON


def configure_logging(
    level: str = "INFO",
    fmt: LogFormat | str = LogFormat.AUTO,
    *,
    secrets: tuple[str, ...] = (),
    cache_loggers: bool = False,
) -> None:
    """Both processes' logging. `cache_loggers` (their mains pass True): each logger keeps
    what it was first used with for the process's life, which saves rebuilding it for
    every event; tests leave it off, so that one test's set-up does not stick to the
    module-level loggers seen by the next (structlog.testing.capture_logs among them)."""
    redactor = _Redactor(secrets)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # The standard library's json: orjson renders a line in 0.3 µs instead of 3.7, which
    # is under 1% of a top-up's CPU, below what the benchmark can tell apart.
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if resolve_format(fmt) is LogFormat.JSON
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric_level = logging.getLevelName(level)
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            redactor,  # last before rendering, after everything that adds text
            renderer,
        ],
        logger_factory=_logger_factory,
        # Methods below the level do nothing at all: no processor, no context merged.
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        cache_logger_on_first_use=cache_loggers,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The access log and the SQL echo are noisy at INFO and add nothing per request
    # that our own request log does not already say.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # aiogram logs every handled update at INFO; our handlers log what matters.
    if level != "DEBUG":
        logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    # Tortoise says "Tortoise-ORM startup/shutdown" at INFO on every run, which reads
    # like a failure in a start-up log: only at DEBUG.
    tortoise = logging.INFO if level == "DEBUG" else logging.WARNING
    logging.getLogger("tortoise").setLevel(max(tortoise, logging.getLevelName(level)))
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    for name, quieter in (("asyncpg.pool", _one_line), ("aiohttp.server", _client_fault)):
        if quieter not in logging.getLogger(name).filters:
            logging.getLogger(name).addFilter(quieter)


def log_failure(logger: Any, event: str, error: BaseException, **fields: Any) -> None:
    """Why a process or command gives up, through the redacting pipeline: Python's own
    traceback printer would show the token that aiogram puts in every Bot API URL.
    One line when Telegram, the database or the network failed; the (redacted)
    traceback too for anything else, which is a bug."""
    described = f"{type(error).__name__}: {error}"
    # Telegram's errors as aiogram raises them. Looked up, not imported: the API process
    # never loads aiogram (it would be two thirds of its memory), and an aiogram
    # error cannot exist in a process that did not.
    telegram = sys.modules.get("aiogram.exceptions")
    outside = OUTSIDE_FAILURES + ((telegram.TelegramAPIError,) if telegram else ())
    if isinstance(error, outside):
        logger.error(event, error=described, **fields)
    else:
        logger.error(event, error=described, exc_info=error, **fields)
