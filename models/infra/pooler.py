"""PostgreSQL URLs that lead through a transaction-mode pooler (PgBouncer, or the pooled
endpoint of a managed database), marked with `?pgbouncer=true` as Prisma marks them.

Such a pooler lends a server connection to a client for one transaction and then to
another client, so nothing may outlive a transaction on it:

- no named prepared statements: asyncpg names and caches every statement per
  connection, and through a pooler those names collide across clients ("prepared
  statement … does not exist", `DuplicatePreparedStatementError`, or another
  client's statement run with our arguments). With `statement_cache_size=0` asyncpg
  uses the unnamed statement, which it parses again in the same round trip as the
  execution, so nothing depends on the server connection staying the same;
- no session state (session advisory locks, SET, LISTEN, temporary tables): the
  migration lock is a transaction-level advisory lock held by an open transaction
  (`models.infra.db`), which a pooler keeps on one server connection until it ends;
  asyncpg's own SET around its type look-ups is turned off (`PooledConnection`).

asyncpg does not know the flag, so it is removed before the URL reaches asyncpg or
Tortoise.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg


# asyncpg ships no type information: its Connection is Any to the checker.
class PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """asyncpg looks up in the catalog each type it has no codec for (an array of
    UUIDs, an enum) and, on servers with JIT, wraps that query in `set_config('jit',
    'off', false)` and a second call that restores it: session settings, sent as
    separate statements that a pooler may hand to three server connections, leaving
    JIT off (or on) for whoever gets them next. Told the server has no JIT, it sends
    the look-up alone; that costs a JIT compilation (about 0.15 s on PostgreSQL 15),
    once per connection and type."""

    _server_caps: Any  # asyncpg's own (a named tuple), set in its __init__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._server_caps = self._server_caps._replace(jit=False)


POOLER_FLAG = "pgbouncer"
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
# What asyncpg is told on a pooled URL.
POOLED_OPTIONS: dict[str, Any] = {
    "statement_cache_size": 0,
    "connection_class": PooledConnection,
}


def _flag(db_url: str) -> str | None:
    values = [v for k, v in parse_qsl(urlsplit(db_url).query) if k == POOLER_FLAG]
    return values[-1] if values else None


def flag_problem(db_url: str) -> str | None:
    """Why the URL's pooler flag is unusable, or None. Never quotes the URL (it may
    carry a password)."""
    value = _flag(db_url)
    if value is None:
        return None
    if value.lower() not in _TRUE | _FALSE:
        return f"has {POOLER_FLAG}={value[:10]!r}; use {POOLER_FLAG}=true or leave it out"
    if urlsplit(db_url).scheme == "sqlite" and value.lower() in _TRUE:
        return f"is SQLite: {POOLER_FLAG}=true only applies to PostgreSQL"
    return None


def is_pooled(db_url: str) -> bool:
    value = _flag(db_url)
    return value is not None and value.lower() in _TRUE


def without_flag(db_url: str) -> str:
    """The URL as asyncpg and Tortoise may see it: the pooler flag removed."""
    parts = urlsplit(db_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != POOLER_FLAG]
    return urlunsplit(parts._replace(query=urlencode(query)))
