"""Raw statements for the hottest money paths, in SQL both databases accept.

Tortoise builds every query through pypika, which costs more CPU than the database
spends on these short statements; under a payment burst that was the worker's main
cost. Statements are written with PostgreSQL's `$1, $2, …` and turned into SQLite's
numbered `?1, ?2, …` here, so on both a `$n` is the n-th argument wherever it stands
and may repeat.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

_NUMBERED = re.compile(r"\$(\d+)")


def _value(value: Any, dialect: str) -> Any:
    # SQLite keeps UUIDs as text, the way Tortoise writes them.
    return str(value) if dialect == "sqlite" and isinstance(value, uuid.UUID) else value


async def execute(conn: BaseDBAsyncClient, sql: str, *args: Any) -> tuple[int, list[Any]]:
    """Run one statement; returns (rows affected, rows returned)."""
    dialect = conn.capabilities.dialect
    if dialect == "sqlite":
        sql = _NUMBERED.sub(r"?\1", sql)
    values = [_value(a, dialect) for a in args]
    if " RETURNING " in sql:  # Tortoise only fetches rows of a write through this call
        returned = await conn.execute_query_dict(sql, values)
        return len(returned), list(returned)
    count, rows = await conn.execute_query(sql, values)
    return count, list(rows)


def as_datetime(value: datetime | str) -> datetime:
    """A timestamp read back: PostgreSQL gives datetimes, SQLite the text Tortoise
    stored. Always aware (UTC when the text carried no offset)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
