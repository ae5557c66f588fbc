"""Tortoise's asyncpg backend, with a pool that skips asyncpg's session reset.

asyncpg resets every connection it takes back into its pool by sending
`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` — a second round
trip for each statement Tortoise runs outside a transaction, and one more after each
transaction. This project never leaves session state on a pooled connection (no
session advisory locks, cursors, LISTEN or SET; the migration lock uses a connection
of its own), so that query would always find nothing to undo. asyncpg still rolls
back a transaction left open before the connection goes back.

Named as the Tortoise engine for PostgreSQL URLs in `models.infra.db.tortoise_config`.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient


async def _nothing_to_reset(_connection: asyncpg.Connection) -> None:
    return None


class PooledClient(AsyncpgDBClient):
    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        return await asyncpg.create_pool(None, reset=_nothing_to_reset, **kwargs)


client_class = PooledClient
