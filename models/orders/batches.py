"""Orders opened many at a time on PostgreSQL: one statement for every top-up that
arrived while the previous one ran.

Under a spike each top-up's `open_or_reuse_topup_order` was a statement of its own: a
round trip, a transaction and a commit each, and for the API process about a third of
the CPU of a top-up. Here each top-up waits for the next statement, which opens the
orders of all waiting buyers (`unnest` feeding the same function, row after row, in
one transaction). With nothing waiting a top-up's statement starts at once, so a
lone buyer waits for nothing; under load the batches grow by themselves.

Every rule of `models.orders.opening.open_order` holds unchanged: each row is the same function
call, and it sees the rows before it in the batch (a buyer pressing twice gets the
first order back; the per-minute limit counts both). Rows are sorted by user: the
function locks each buyer's row, and two batches locking the same buyers in the same
order never deadlock. A batch that fails (one buyer's data the database refuses) is
retried one buyer at a time, so one cannot fail the others.

SQLite has no such function and one writer: there, each top-up opens its own order.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta

from tortoise import Tortoise

from models.infra import metrics
from models.infra.sql import execute
from models.orders.limits import PAYING_WINDOW, rate_limit
from models.orders.opening import NewOrder, open_order
from models.refusals import Refused
from models.values import Profile, utcnow

# Batches in flight at once: a batch stuck behind one buyer's row lock (a payment
# being credited) holds up only its own buyers, and the pool keeps connections free
# for everything else.
MAX_BATCHES = 4
MAX_BATCH = 500

_BATCH = (
    "SELECT f.o_order_id, f.o_invoice_url, f.o_reused, f.o_recent, f.o_oldest "
    "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::int[]) "
    "WITH ORDINALITY AS a(user_id, username, first_name, language_code, order_id, amount, n) "
    "CROSS JOIN LATERAL open_or_reuse_topup_order(a.user_id, a.username, a.first_name, "
    "a.language_code, a.order_id, a.amount, $7, $8, $9, $10, $11) AS f ORDER BY a.n"
)


@dataclass
class _Waiting:
    user: Profile
    amount: int
    answer: asyncio.Future[NewOrder]


class OrderOpener:
    """`open_order` with the settings of the API process, batched on PostgreSQL."""

    def __init__(self, *, ttl: int, max_pending: int, per_minute: int) -> None:
        self.ttl, self.max_pending, self.per_minute = ttl, max_pending, per_minute
        self._waiting: list[_Waiting] = []
        self._batches = 0  # in flight
        self.statements = 0  # batches run, for tests and curiosity

    async def open(self, user: Profile, amount: int) -> NewOrder:
        """As `models.orders.opening.open_order`: the buyer's order for `amount`, or
        Refused (RATE_LIMITED)."""
        conn = Tortoise.get_connection("default")
        if conn.capabilities.dialect != "postgres":
            return await open_order(
                user,
                amount,
                ttl=self.ttl,
                max_pending=self.max_pending,
                per_minute=self.per_minute,
            )
        answer: asyncio.Future[NewOrder] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(user, amount, answer))
        if self._batches < MAX_BATCHES:
            self._batches += 1
            asyncio.get_running_loop().create_task(self._run())
        return await answer

    async def _run(self) -> None:
        """Batches until nobody waits; then this runner ends."""
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                try:
                    await self._open_all(batch)
                except BaseException as error:  # cancelled (stopping): nobody waits forever
                    for waiting in batch:
                        _settle(waiting, error)
                    raise
        finally:
            self._batches -= 1

    async def _open_all(self, batch: list[_Waiting]) -> None:
        batch.sort(key=lambda waiting: waiting.user.id)
        try:
            orders = await self._statement(batch)
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0], error)
                return
            # One buyer the database refuses must not fail the others: each alone, a few
            # at a time, so a database hiccup does not turn into 500 statements at once.
            limit = asyncio.Semaphore(MAX_BATCHES)

            async def alone(waiting: _Waiting) -> None:
                async with limit:
                    await self._open_all([waiting])

            await asyncio.gather(*(alone(waiting) for waiting in batch))
            return
        for waiting, order in zip(batch, orders, strict=True):
            _settle(waiting, order)

    async def _statement(self, batch: list[_Waiting]) -> list[NewOrder | Refused]:
        now = utcnow()
        expires_at = now + timedelta(seconds=self.ttl)
        order_ids = [uuid.uuid4() for _ in batch]
        self.statements += 1
        _, rows = await execute(
            Tortoise.get_connection("default"),
            _BATCH,
            [w.user.id for w in batch],
            [w.user.username for w in batch],
            [w.user.first_name for w in batch],
            [w.user.language_code for w in batch],
            order_ids,
            [w.amount for w in batch],
            now,
            expires_at,
            now - PAYING_WINDOW,
            self.max_pending,
            self.per_minute,
        )
        orders: list[NewOrder | Refused] = []
        for waiting, row in zip(batch, rows, strict=True):
            if row["o_order_id"] is None:
                refusal = rate_limit(row["o_recent"], row["o_oldest"], self.per_minute, now)
                assert refusal is not None
                orders.append(refusal)
                continue
            order = NewOrder(
                row["o_order_id"],
                waiting.amount,
                expires_at,
                row["o_invoice_url"],
                row["o_reused"],
            )
            if not order.reused:
                metrics.ORDERS_OPENED.inc()
            orders.append(order)
        return orders


def _settle(waiting: _Waiting, outcome: NewOrder | BaseException) -> None:
    if waiting.answer.done():  # the request is gone (cancelled); the order stays open
        return
    if isinstance(outcome, BaseException):
        waiting.answer.set_exception(outcome)
    else:
        waiting.answer.set_result(outcome)
