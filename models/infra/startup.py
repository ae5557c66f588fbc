"""What both processes check before they serve, and how a start-up failure ends them.

Each failure is one line on standard error naming what failed and where (the setting,
the database's kind, host and port or path), never a password or the token, and ends
the process with an exit code of its own (docs/operations.md#exit-codes). A traceback
or a retry loop would hide the cause: a token Telegram rejects is retried forever, a
process under systemd restarting every few seconds looks alive and does nothing.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# The exit codes (documented in docs/operations.md#exit-codes and docs/bot.md).
EXIT_FAILED = 1  # anything else: the reason is logged (a bug: with its traceback)
EXIT_CONFIGURATION = 2  # a setting is wrong: fix it, a restart will not help
EXIT_DATABASE = 3  # the database could not be reached or written: may pass on its own
EXIT_LISTEN = 4  # the API could not listen on API_HOST:API_PORT (taken, not allowed)
EXIT_TELEGRAM = 5  # `check`: Telegram could not be asked; the database part was printed

TOKEN_REJECTED = (
    "configuration error: BOT_TOKEN was rejected by Telegram (401 Unauthorized): "
    "copy the bot's token from @BotFather (/mybots → API Token) again"
)
# The libpq connection options asyncpg reads from a URL that are worth keeping here;
# the rest of a DATABASE_URL's query are Tortoise's (minsize) or ours (pgbouncer).
KEPT_OPTIONS = {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout"}
CONNECT_TIMEOUT = 10.0


class StartupError(Exception):
    """A start-up failure: `message` is the one line to print, `code` the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def sqlite_path(db_url: str) -> Path | None:
    path = db_url.removeprefix("sqlite://").split("?", 1)[0]
    return None if path in {"", ":memory:"} else Path(path)


def postgres_place(db_url: str) -> str:
    """`PostgreSQL at host:port, database name`: where, without user or password."""
    parts = urlsplit(db_url)
    host = parts.hostname or "the local socket"
    port = f":{parts.port or 5432}" if parts.hostname else ""
    name = parts.path.lstrip("/") or parts.username or "postgres"
    return f"PostgreSQL at {host}{port}, database {name!r}"


def prepare_sqlite_folder(db_url: str, name: str = "DATABASE_URL") -> None:
    """The SQLite file's folder exists (made if need be) and can be written: SQLite
    writes its journal and our migration lock next to the file."""
    path = sqlite_path(db_url)
    if path is None:
        return
    folder = path.parent.absolute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StartupError(
            f"database error: cannot create the folder {folder} for the SQLite database "
            f"of {name} ({error.strerror or type(error).__name__})",
            EXIT_DATABASE,
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StartupError(
            f"database error: the folder {folder} of the SQLite database of {name} is "
            "not writable by this user (SQLite writes its journal next to the file)",
            EXIT_DATABASE,
        )
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise StartupError(
            f"database error: the SQLite database {path.absolute()} of {name} is not "
            "readable and writable by this user",
            EXIT_DATABASE,
        )


def _connect_dsn(db_url: str) -> str:
    parts = urlsplit(db_url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key in KEPT_OPTIONS]
    return urlunsplit(parts._replace(scheme="postgresql", query=urlencode(query)))


def _reason(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused: is PostgreSQL running and listening there?"
    if isinstance(error, socket.gaierror):
        return "the host name could not be resolved"
    if isinstance(error, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT:.0f} s"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[0].lower() + error.strerror[1:]
    return str(error).split("\n", 1)[0] or type(error).__name__


async def check_postgres(db_url: str, name: str = "DATABASE_URL") -> None:
    """One connection, opened and closed: the server answers and lets us in."""
    import asyncpg

    place = postgres_place(db_url)
    try:
        connection = await asyncpg.connect(
            _connect_dsn(db_url), timeout=CONNECT_TIMEOUT, statement_cache_size=0
        )
    except (
        asyncpg.InvalidPasswordError,
        asyncpg.InvalidAuthorizationSpecificationError,
        asyncpg.InvalidCatalogNameError,
    ) as error:
        # The server's own words name the user or the database, never the password.
        raise StartupError(
            f"configuration error: {name}: {place} refused us: {_reason(error)}",
            EXIT_CONFIGURATION,
        ) from None
    except asyncpg.ClientConfigurationError as error:
        # The driver rejects an option's value (sslmode=on) before asking any server:
        # a restart cannot fix it. Its words name the option, not the URL.
        raise StartupError(
            f"configuration error: {name}: {place}: {_reason(error)}", EXIT_CONFIGURATION
        ) from None
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise StartupError(
            f"database error: cannot connect to {place} ({name}): {_reason(error)}",
            EXIT_DATABASE,
        ) from None
    await connection.close()


async def check_databases(database_url: str, direct_url: str | None) -> None:
    """Every database the process will use, before the migrations run on one."""
    for name, url in (("DATABASE_URL", database_url), ("DATABASE_DIRECT_URL", direct_url)):
        if url is None:
            continue
        if url.startswith("sqlite"):
            prepare_sqlite_folder(url, name)
        else:
            await check_postgres(url, name)


async def check_token(getme_url: str, timeout: float = 5.0) -> str | None:
    """Ask Telegram's getMe once. Raises StartupError when Telegram rejects the token
    (401); returns why it could not be asked (None when it answered), for the API,
    which serves its other routes without Telegram. `getme_url` holds the token: no
    message here quotes it."""
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http,
            http.get(getme_url) as response,
        ):
            if response.status == 401:
                raise StartupError(TOKEN_REJECTED, EXIT_CONFIGURATION)
            return None if response.status < 500 else f"getMe answered HTTP {response.status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        strerror = getattr(error, "strerror", None)
        return f"{type(error).__name__}: {strerror}" if strerror else type(error).__name__
