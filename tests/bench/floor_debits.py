"""The floor for debits: a bare aiohttp handler that makes each debit with the fewest
statements a correct one needs, in one transaction: an INSERT of the debit under its
unique idempotency key and one conditional `UPDATE … WHERE stars_balance >= amount
RETURNING` of the balance. No auth, no validation, no ledger row, no ORM, no metrics or
logs. Same database, same pool size and same event loop as run_api.py.
`python -m tests.bench.floor_debits` (DATABASE_URL, API_PORT)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

import aiosqlite
import asyncpg
from aiohttp import web

from models.infra.loop import new_event_loop

INSERT = (
    "INSERT INTO debits (id, user_id, amount, reason, idempotency_key, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6)"
)
UPDATE = (
    "UPDATE users SET stars_balance = stars_balance - $1 "
    "WHERE id = $2 AND stars_balance >= $1 RETURNING stars_balance"
)
POOL_SIZE = 10  # as an API process's (models.infra.db)


class Refused(Exception):
    """Not enough Stars: the transaction rolls back."""


class Store(Protocol):
    async def debit(
        self, debit_id: uuid.UUID, user_id: int, amount: int, reason: str, key: str, at: datetime
    ) -> int: ...

    async def close(self) -> None: ...


async def _no_reset(_connection: asyncpg.Connection) -> None:
    return None  # as models.infra.postgres_engine: nothing is left on a connection to undo


class Postgres:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: str) -> Postgres:
        pool = await asyncpg.create_pool(
            url, min_size=POOL_SIZE, max_size=POOL_SIZE, reset=_no_reset
        )
        return cls(pool)

    async def debit(
        self, debit_id: uuid.UUID, user_id: int, amount: int, reason: str, key: str, at: datetime
    ) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(INSERT, debit_id, user_id, amount, reason, key, at)
            balance = await conn.fetchval(UPDATE, amount, user_id)
            if balance is None:
                raise Refused
            return int(balance)

    async def close(self) -> None:
        await self.pool.close()


class Sqlite:
    """One connection, transactions one at a time, the pragmas Tortoise sets."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self.lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str) -> Sqlite:
        conn = await aiosqlite.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "journal_size_limit=16384", "foreign_keys=ON"):
            await conn.execute(f"PRAGMA {pragma}")
        return cls(conn)

    async def debit(
        self, debit_id: uuid.UUID, user_id: int, amount: int, reason: str, key: str, at: datetime
    ) -> int:
        async with self.lock:
            await self.conn.execute("BEGIN")
            try:
                await self.conn.execute(
                    INSERT.replace("$", "?"),
                    (str(debit_id), user_id, amount, reason, key, at.isoformat()),
                )
                async with self.conn.execute(UPDATE.replace("$", "?"), (amount, user_id)) as rows:
                    row = await rows.fetchone()
                if row is None:
                    raise Refused
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")
            return int(row[0])

    async def close(self) -> None:
        await self.conn.close()


store_key = web.AppKey("store", Store)


async def post_debit(request: web.Request) -> web.Response:
    user_id = int(request.match_info["telegram_id"])
    key = request.headers["Idempotency-Key"]
    body: dict[str, Any] = await request.json()
    debit_id, at = uuid.uuid4(), datetime.now(UTC)
    try:
        balance = await request.app[store_key].debit(
            debit_id, user_id, body["amount"], body["reason"], key, at
        )
    except Refused:
        return web.json_response({"error": {"code": "insufficient_balance"}}, status=409)
    answer = {
        "debit_id": str(debit_id),
        "telegram_id": user_id,
        "amount": body["amount"],
        "reason": body["reason"],
        "stars_balance": balance,
        "created_at": at.isoformat(),
        "reversed": False,
    }
    return web.json_response(answer, status=201)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def database(app: web.Application) -> AsyncIterator[None]:
    url = os.environ["DATABASE_URL"]
    if url.startswith("sqlite://"):
        app[store_key] = await Sqlite.open(url.removeprefix("sqlite://"))
    else:
        app[store_key] = await Postgres.open(url.split("?", 1)[0])
    yield
    await app[store_key].close()


def main() -> None:
    app = web.Application()
    app.cleanup_ctx.append(database)
    app.router.add_get("/health", health)
    app.router.add_post("/service/users/{telegram_id}/debits", post_debit)
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(os.environ["API_PORT"]),
        access_log=None,
        loop=new_event_loop(),  # the loop run_api.py runs on
        print=lambda text: print(text, flush=True),
    )


if __name__ == "__main__":
    main()
