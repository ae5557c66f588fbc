"""Process settings, read from the environment and an optional `.env` file.

Both processes load the same class; a bad value stops start-up with exit code 2 and
one line that names the variable (see `load_settings`).
"""

from __future__ import annotations

import hashlib
import re
import sys
from enum import StrEnum
from typing import Annotated
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.infra.pooler import flag_problem, is_pooled
from models.infra.startup import StartupError, prepare_sqlite_folder

TELEGRAM_WEB_APP_JS = "https://telegram.org/js/telegram-web-app.js"
# Telegram's shape: the bot's id, a colon, a secret of 35 (at least 30) of these.
TOKEN_SHAPE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{30,}$")
# The value .env.example ships with: shaped like a token, and not one.
PLACEHOLDER_TOKEN = "123456789:replace-with-your-token-from-botfather"
HOST_SHAPE = re.compile(r"[A-Za-z0-9._-]+")
# Sent as `Authorization: Bearer <key>`: visible ASCII, and never a comma (the separator).
SERVICE_KEY_SHAPE = re.compile(r"^[!-+\--~]+$")
MIN_SERVICE_KEY = 32
# `label:key` names a key for the audit trail (who made an adjustment); the label is
# short and plain, so a key that merely contains a colon is read as a whole key.
SERVICE_KEY_LABEL = re.compile(r"^([A-Za-z0-9_.-]{1,32}):(.+)$")
MIN_EVENTS_SECRET = 32
VISIBLE_ASCII = re.compile(r"^[!-~]+$")


class Environment(StrEnum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"


class LogFormat(StrEnum):
    AUTO = "auto"  # console on a terminal, JSON anywhere else (models/infra/logs.py)
    CONSOLE = "console"
    JSON = "json"


def _http_url(value: str, example: str) -> SplitResult:
    """An http(s) URL with a valid host and port, split. The messages never echo the
    value: a URL may carry the bot token or credentials."""
    if not value.isprintable() or " " in value:
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # a bad [IPv6] literal or port; the text would quote the value
        raise ValueError("is not a valid URL (check the host and the port, 1 to 65535)") from None
    if parts.scheme not in {"http", "https"}:
        raise ValueError(f"must start with http:// or https://, e.g. {example}")
    if not (HOST_SHAPE.fullmatch(host) or ":" in host):  # ":" only in a checked [IPv6]
        raise ValueError(f"has no valid host name, e.g. {example}")
    if port == 0:  # None means the scheme's default
        raise ValueError("is not a valid URL (check the host and the port, 1 to 65535)")
    # aiohttp sends a URL's user and password as Basic auth, encoded in Latin-1: any
    # other character fails every request (UnicodeEncodeError, quoting them).
    userinfo = unquote(parts.netloc.rpartition("@")[0], errors="replace")
    try:
        userinfo.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(
            "must have a user name and password of Latin-1 characters only "
            "(HTTP Basic authentication cannot send others)"
        ) from None
    return parts


DATABASE_ADDRESS_PROBLEM = (
    "has no valid host and port: percent-encode any / ? # @ in the password "
    "(/ is %2F, ? is %3F, # is %23, @ is %40)"
)


def _database_address(value: str) -> None:
    """A PostgreSQL URL whose userinfo ends where it should: at its one `@`.

    A password with a bare / ? or # ends the userinfo early, and what follows is taken
    for a host and a port; the drivers' errors then quote the "port" (the password)
    in a traceback. A bare @ is read differently by urllib (the last one) and asyncpg
    (the first). The message never echoes the value."""
    try:
        parts = urlsplit(value)
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number, a bad [IPv6] literal
        raise ValueError(DATABASE_ADDRESS_PROBLEM) from None
    after_host = parts.path + parts.query + parts.fragment
    if parts.netloc.count("@") > 1 or "@" in after_host or parts.fragment or port == 0:
        raise ValueError(DATABASE_ADDRESS_PROBLEM)
    # No host is a local socket (or ?host=/run/postgresql): libpq's default.
    if host and not (HOST_SHAPE.fullmatch(host) or ":" in host):
        raise ValueError(DATABASE_ADDRESS_PROBLEM)


def url_secrets(url: str | None) -> tuple[str, ...]:
    """What of a configured URL the logs must never show: its userinfo (and password)
    and its query (and each long value), as written and percent-decoded, since a
    library may print either spelling."""
    if not url:
        return ()
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return ()
    userinfo = parts.netloc.rpartition("@")[0]
    found = [userinfo, password or ""]
    if parts.query:
        found.append(parts.query)
        # Short values (true, 1, require) are not secrets, and scrubbing them would
        # garble every line that happens to hold them.
        found += [value for _, value in parse_qsl(parts.query) if len(value) >= 8]
    spellings = {spelling for text in found for spelling in (text, unquote(text))}
    return tuple(sorted(spelling for spelling in spellings if spelling))


def _password_spellings(url: str) -> tuple[str, ...]:
    password = urlsplit(url).password
    return tuple({password, unquote(password)}) if password else ()


def _labelled(entry: str) -> tuple[str, str]:
    """(label, key) of a SERVICE_API_KEYS entry, `label:key` or a bare key."""
    match = SERVICE_KEY_LABEL.match(entry)
    if match and len(match.group(2)) >= MIN_SERVICE_KEY:
        return match.group(1), match.group(2)
    return "key-" + hashlib.sha256(entry.encode()).hexdigest()[:8], entry


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # `NAME=` in .env (as .env.example has) means "not set", not "set to empty".
        env_ignore_empty=True,
    )

    bot_token: SecretStr
    database_url: str = "sqlite://data/stars.sqlite3"
    # A direct PostgreSQL connection (not through a pooler) the migrations run on when
    # set: for a DATABASE_URL that leads through a pooler (`?pgbouncer=true`).
    database_direct_url: str | None = None
    telegram_api_url: str | None = None
    telegram_test_env: bool = False
    # Connections each process may hold open to the Bot API at once. Every call holds
    # one for the round trip to Telegram, so a process makes at most this many calls
    # per round trip: 512 over 150 ms is over 3,000 a second, more than one process's
    # CPU answers even with Telegram 300 ms away (aiogram's default of 100 capped
    # top-ups at ~650 a second, not the CPU). They open only as the load needs them.
    telegram_connections: int = Field(512, ge=1, le=10_000)
    environment: Environment = Environment.PRODUCTION

    api_host: str = "127.0.0.1"
    api_port: int = Field(8080, ge=1, le=65535)
    api_cors_origins: Annotated[list[str], NoDecode] = []
    # Requests one API process works on at once; more are answered 503 `overloaded` at
    # once. Those taken then wait at most about this many divided by the rate the
    # process answers (512 at ~1,000 a second: half a second), however large the
    # spike, while a stall of a few hundred milliseconds at 800 top-ups a second with
    # Telegram 150 ms away still sheds nothing. At or below TELEGRAM_CONNECTIONS, no
    # top-up waits for a connection.
    api_max_in_flight: int = Field(512, ge=1, le=100_000)

    # Secrets of the app backends that may call /service/… (several, to rotate one).
    service_api_keys: Annotated[list[SecretStr], NoDecode] = []

    # The app backend's endpoint for balance events, and the key they are signed with.
    events_url: str | None = None
    events_secret: SecretStr | None = Field(None, validate_default=True)

    admin_ids: Annotated[list[int], NoDecode] = []
    star_packages: Annotated[list[int], NoDecode] = [50, 100, 250, 500, 1000, 2500]
    invoice_ttl: int = Field(86400, ge=60)
    invoice_photo_url: str | None = None
    init_data_max_age: int = Field(86400, ge=1)
    topup_max_pending: int = Field(5, ge=1)
    topup_per_minute: int = Field(10, ge=1)
    reconcile_interval: float = Field(300, gt=0)
    # Gifts and Premium (models.gifts, docs/gifts.md): how long after an attempt whose
    # outcome Telegram did not tell its purchase may still appear in getStarTransactions
    # (none by then: it failed and the Stars go back); the longest a purchase call may
    # take; how old the cached catalog may get before it is read again; how long a
    # purchase request waits for Telegram's answer before it answers 202 pending.
    gift_settling_minutes: float = Field(10, ge=1, le=1440)
    gift_call_timeout: float = Field(30, ge=1, le=300)
    gift_catalog_ttl: float = Field(300, ge=1)
    gift_answer_wait: float = Field(5, ge=0, le=60)
    # Seconds the polling worker's lease lasts (bot/leadership.py): a standby takes over
    # at most this long (plus a second) after the leader vanishes.
    leader_lease: float = Field(10, ge=1, le=600)
    # Days a delivered or abandoned event and a sent notice are kept before the leading
    # worker deletes them (models/retention.py); 0 keeps them for good.
    events_retention_days: int = Field(30, ge=0, le=36_500)
    notices_retention_days: int = Field(30, ge=0, le=36_500)
    # A daily revenue digest to ADMIN_IDS at this local time (HH:MM, off when unset),
    # in DIGEST_TIMEZONE (an IANA name, UTC by default).
    digest_at: str | None = None
    digest_timezone: str = "UTC"
    webapp_url: str | None = None
    # Where the reference Mini App page (/app/) loads Telegram's telegram-web-app.js:
    # telegram.org's copy, as every Mini App in Telegram must load it; the offline
    # sandbox (python -m tests.sandbox) points it at the npm package's copy.
    webapp_script_url: str = TELEGRAM_WEB_APP_JS
    bot_metrics_port: int | None = Field(None, ge=1, le=65535)
    bot_metrics_host: str = "127.0.0.1"
    privacy_text: str | None = None
    terms_text: str | None = None
    support_contact: str | None = None

    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.AUTO

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        # The message must never echo the value: it is a secret.
        if value.get_secret_value() == PLACEHOLDER_TOKEN:
            raise ValueError(
                "is still the placeholder from .env.example: put your bot's token from "
                "@BotFather there"
            )
        if not TOKEN_SHAPE.match(value.get_secret_value()):
            raise ValueError(
                "is not shaped like a bot token (digits, a colon, then 35 letters, digits, "
                "- or _, as @BotFather gives it)"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _database_kind(cls, value: str) -> str:
        scheme = urlsplit(value).scheme if "://" in value else ""
        if not scheme:  # never echoed: it may hold a password
            raise ValueError(
                "is not a database URL; use sqlite://data/stars.sqlite3 or "
                "postgres://user:password@host:5432/database"
            )
        if scheme not in {"sqlite", "postgres", "postgresql", "asyncpg"}:
            raise ValueError(
                f"has unsupported kind {scheme!r}; use sqlite://path or "
                "postgres://user:pass@host:port/db"
            )
        if problem := flag_problem(value):
            raise ValueError(problem)
        if scheme != "sqlite":
            _database_address(value)
        return value

    @field_validator("database_direct_url")
    @classmethod
    def _direct_kind(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if str(info.data.get("database_url", "")).startswith("sqlite"):
            raise ValueError("is set but DATABASE_URL is SQLite: leave it out, or use PostgreSQL")
        scheme = urlsplit(value).scheme
        if scheme not in {"postgres", "postgresql", "asyncpg"}:
            raise ValueError(
                f"has unsupported kind {scheme or 'none'!r}; use "
                "postgres://user:pass@host:port/db (not through a pooler)"
            )
        if flag_problem(value) or is_pooled(value):
            raise ValueError("must be a direct connection, without pgbouncer=true")
        _database_address(value)
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, value: str | None) -> str | None:
        # Checked here because aiogram puts the token in the path of every call, and
        # aiohttp's error for a malformed URL quotes the whole URL. The messages never
        # echo the value: a pasted URL may carry the token.
        if value is None:
            return None
        parts = _http_url(value, "http://127.0.0.1:8081")
        if parts.query or parts.fragment:
            raise ValueError("must be a base URL without ?query or #fragment")
        return value

    @field_validator("webapp_script_url")
    @classmethod
    def _script_url(cls, value: str) -> str:
        _http_url(value, TELEGRAM_WEB_APP_JS)
        return value

    @field_validator("service_api_keys", mode="before")
    @classmethod
    def _service_keys(cls, value: object) -> object:
        # Checked before pydantic sees the parts: its own messages quote the input, and
        # these are secrets. No message here echoes a key either.
        entries = _split_csv(value)
        if not isinstance(entries, list) or not all(isinstance(key, str) for key in entries):
            raise ValueError("must be comma-separated keys")
        keys = [_labelled(entry)[1] for entry in entries]
        if any(len(key) < MIN_SERVICE_KEY for key in keys):
            raise ValueError(f"must each be at least {MIN_SERVICE_KEY} characters long")
        if not all(SERVICE_KEY_SHAPE.match(key) for key in keys):
            raise ValueError("must each be printable ASCII without spaces or commas")
        return entries

    @field_validator("events_url")
    @classmethod
    def _events_url(cls, value: str | None) -> str | None:
        # The messages never echo the value: a URL may carry credentials.
        if value is None:
            return None
        parts = _http_url(value, "https://app.example.org/stars-events")
        if parts.fragment:
            raise ValueError("must not have a #fragment")
        return value

    @field_validator("events_secret", mode="before")
    @classmethod
    def _events_secret(cls, value: object, info: ValidationInfo) -> object:
        # Checked before pydantic sees it, whose own messages quote the input.
        if value is None:
            if info.data.get("events_url"):
                raise ValueError("is required when EVENTS_URL is set")
            return None
        if not isinstance(value, str):
            raise ValueError("must be text")
        if len(value) < MIN_EVENTS_SECRET:
            raise ValueError(f"must be at least {MIN_EVENTS_SECRET} characters long")
        if not VISIBLE_ASCII.match(value):
            raise ValueError("must be printable ASCII without spaces")
        return value

    @field_validator("api_cors_origins", "admin_ids", "star_packages", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("star_packages")
    @classmethod
    def _packages(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("must list at least one package")
        if any(amount < 1 or amount > 100_000 for amount in value):
            raise ValueError("amounts must be whole Stars between 1 and 100000")
        return sorted(set(value))

    @field_validator("digest_at")
    @classmethod
    def _digest_at(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError("must be a time of day as HH:MM, e.g. 09:00")
        return value

    @field_validator("digest_timezone")
    @classmethod
    def _digest_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a time zone name, e.g. Europe/Berlin or UTC") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @property
    def token(self) -> str:
        return self.bot_token.get_secret_value()

    @property
    def is_development(self) -> bool:
        return self.environment is Environment.DEVELOPMENT

    @property
    def service_keys(self) -> list[str]:
        """The keys themselves, without their labels."""
        return [_labelled(key.get_secret_value())[1] for key in self.service_api_keys]

    @property
    def service_key_labels(self) -> list[str]:
        """Each key's label, in the order of `service_keys`: as given (`label:key`), or
        `key-` and the start of the key's SHA-256 (which says nothing of the key)."""
        return [_labelled(key.get_secret_value())[0] for key in self.service_api_keys]

    @property
    def secrets(self) -> tuple[str, ...]:
        """What the logs must never show (models/infra/logs.py redacts each)."""
        events = (self.events_secret.get_secret_value(),) if self.events_secret else ()
        # The database URLs' queries hold options (pgbouncer=true, sslmode=require),
        # not secrets: only their passwords.
        databases = (
            spelling
            for url in (self.database_url, self.database_direct_url)
            if url and not url.startswith("sqlite")
            for spelling in _password_spellings(url)
        )
        urls = (
            secret
            for url in (
                self.telegram_api_url,
                self.events_url,
                self.webapp_url,
                self.invoice_photo_url,
            )
            for secret in url_secrets(url)
        )
        return (self.token, *self.service_keys, *events, *databases, *urls)

    @property
    def events_key(self) -> bytes | None:
        """EVENTS_SECRET as the HMAC key, None while events are off."""
        if self.events_url is None or self.events_secret is None:
            return None
        return self.events_secret.get_secret_value().encode()

    @property
    def is_postgres(self) -> bool:
        return not self.database_url.startswith("sqlite")

    @property
    def migration_url(self) -> str:
        """Where migrations run: the direct connection when there is one. Through a
        pooler they are safe too (their lock is transaction-level), but they hold two
        of its server connections while they run."""
        return self.database_direct_url or self.database_url


def describe_error(error: ValidationError) -> str:
    """One line naming the first bad variable and what is wrong with it."""
    first = error.errors()[0]
    name = str(first["loc"][0]).upper() if first["loc"] else "settings"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = "is required but not set"
    elif not message.startswith(("is ", "has ", "must ", "amounts ")):
        message = f"is invalid: {message}"
    return f"configuration error: {name} {message}"


def load_settings(**overrides: object) -> Settings:
    """Load settings or exit with code 2 and a one-line message (never a traceback)."""
    try:
        # Overrides are field values of every type; the checker sees only `object`.
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        print(describe_error(error), file=sys.stderr)
        raise SystemExit(2) from None
    try:
        prepare_sqlite_folder(settings.database_url)
    except StartupError as failure:  # one line, not a traceback
        print(failure.message, file=sys.stderr)
        raise SystemExit(failure.code) from None
    return settings
