"""Orders opened many at a time (models/orders/batches.py): the rules of open_order hold
inside a batch, and one buyer's bad data fails only that buyer."""

from __future__ import annotations

import asyncio

import pytest

from models.kinds import OrderStatus
from models.orders.batches import MAX_BATCHES, OrderOpener
from models.orders.opening import NewOrder
from models.refusals import Refusal, Refused
from models.tables import TopUpOrder, User
from models.values import Profile


def buyer(i: int, **names: str) -> Profile:
    return Profile(id=50_000 + i, first_name=names.get("first_name", f"B{i}"))


def opener(**limits: int) -> OrderOpener:
    return OrderOpener(**{"ttl": 3600, "max_pending": 5, "per_minute": 10, **limits})


async def test_a_crowd_of_buyers_each_get_an_order(db: str) -> None:
    orders = opener()
    opened = await asyncio.gather(*(orders.open(buyer(i), 100) for i in range(40)))
    assert len({order.id for order in opened}) == 40
    assert not any(order.reused for order in opened)
    stored = {o.user_id: o for o in await TopUpOrder.all()}
    assert {o.id for o in stored.values()} == {order.id for order in opened}
    assert all(o.status is OrderStatus.PENDING and o.amount == 100 for o in stored.values())
    assert await User.filter(id__in=[buyer(i).id for i in range(40)]).count() == 40
    if db == "postgres":
        # Batched: the first few started at once, the rest waited for them.
        assert orders.statements <= 2 * MAX_BATCHES
        assert orders.statements < 40


async def test_pressing_twice_in_one_batch_gives_back_the_first_order(db: str) -> None:
    orders = opener()
    alone = [orders.open(buyer(100 + i), 50) for i in range(MAX_BATCHES)]  # fill the runners
    *_, first, again, other = await asyncio.gather(
        *alone,
        orders.open(buyer(1), 100),
        orders.open(buyer(1), 100),
        orders.open(buyer(1), 250),
    )
    assert isinstance(first, NewOrder)
    assert (again.id, again.reused) == (first.id, True)
    assert other.id != first.id
    assert await TopUpOrder.filter(user_id=buyer(1).id).count() == 2


async def test_the_per_minute_limit_counts_the_batch(db: str) -> None:
    orders = opener(per_minute=2)
    alone = [orders.open(buyer(100 + i), 50) for i in range(MAX_BATCHES)]
    outcomes = await asyncio.gather(
        *alone,
        *(orders.open(buyer(2), amount) for amount in (50, 100, 250)),
        return_exceptions=True,
    )
    mine = outcomes[MAX_BATCHES:]
    assert [type(o) for o in mine].count(NewOrder) == 2
    refused = [o for o in mine if isinstance(o, Refused)]
    assert [r.code for r in refused] == [Refusal.RATE_LIMITED]
    assert 1 <= refused[0].facts["retry_after"] <= 60


async def test_a_buyer_the_database_refuses_fails_alone(db: str) -> None:
    if db != "postgres":
        pytest.skip("SQLite stores a NUL character; PostgreSQL refuses it")
    orders = opener()
    outcomes = await asyncio.gather(
        *(orders.open(buyer(i), 100) for i in range(MAX_BATCHES)),  # the runners
        *(orders.open(buyer(200 + i), 100) for i in range(5)),
        orders.open(buyer(300, first_name="nul\x00byte"), 100),
        return_exceptions=True,
    )
    assert all(isinstance(o, NewOrder) for o in outcomes[:-1])
    assert isinstance(outcomes[-1], Exception)
    assert await TopUpOrder.filter(user_id=buyer(300).id).count() == 0
    assert await TopUpOrder.filter(user_id__in=[buyer(200 + i).id for i in range(5)]).count() == 5
