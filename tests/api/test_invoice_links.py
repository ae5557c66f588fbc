"""Invoice links reach their orders in batches, behind the requests, and none is lost
to a stop or a database that refuses for a while."""

from __future__ import annotations

import asyncio
import uuid

from tortoise import Tortoise

from api.invoice_links import InvoiceLinks
from api.invoices import InvoiceError, InvoiceFailure
from models.orders.opening import open_order
from models.tables import TopUpOrder
from models.values import Profile

ALICE = Profile(1001, "alice", "Alice", "en")


async def orders(count: int) -> dict[uuid.UUID, str]:
    opened = [
        await open_order(ALICE, 100, ttl=3600, max_pending=100, per_minute=100)
        for _ in range(count)
    ]
    return {order.id: f"https://t.me/$link{i}" for i, order in enumerate(opened)}


async def stored() -> dict[uuid.UUID, str | None]:
    rows = await TopUpOrder.all().values_list("id", "invoice_url")
    return {uuid.UUID(str(order_id)): url for order_id, url in rows}


async def test_links_reach_their_orders_shortly_after(db: str) -> None:
    links = await orders(5)
    writer = InvoiceLinks(interval=0.01)
    task = asyncio.create_task(writer.run())
    for order_id, url in links.items():
        writer.add(order_id, url)
    async with asyncio.timeout(5):
        while await stored() != links:
            await asyncio.sleep(0.01)
    await writer.close(task)


async def test_stopping_writes_what_is_waiting(db: str) -> None:
    links = await orders(3)
    writer = InvoiceLinks(interval=3600)
    task = asyncio.create_task(writer.run())
    for order_id, url in links.items():
        writer.add(order_id, url)
    await writer.close(task)
    assert await stored() == links


async def test_a_refused_batch_is_kept_and_written_later(db: str) -> None:
    links = await orders(2)
    writer = InvoiceLinks()
    for order_id, url in links.items():
        writer.add(order_id, url)
    conn = Tortoise.get_connection("default")
    await conn.execute_script("ALTER TABLE topup_orders RENAME TO topup_orders_away")
    assert await writer.flush() is False
    await conn.execute_script("ALTER TABLE topup_orders_away RENAME TO topup_orders")
    assert await stored() == dict.fromkeys(links)
    assert await writer.flush() is True
    assert await stored() == links


class OneCall:
    """`ask` for InvoiceLinks.link: answers (or fails) when released, counting calls."""

    def __init__(self, outcome: str | Exception) -> None:
        self.outcome = outcome
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self) -> str:
        self.calls += 1
        await self.release.wait()
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


async def test_presses_racing_for_one_order_share_its_one_call() -> None:
    links = InvoiceLinks()
    order_id = uuid.uuid4()
    ask = OneCall("https://t.me/$one")
    presses = [asyncio.ensure_future(links.link(order_id, ask)) for _ in range(20)]
    await asyncio.sleep(0)  # every press is waiting now
    presses[0].cancel()  # the press that asked gives up: the others still get the link
    ask.release.set()
    answers = await asyncio.gather(*presses[1:])
    assert answers == ["https://t.me/$one"] * 19
    assert ask.calls == 1
    assert await links.link(order_id, OneCall("https://t.me/$two")) == "https://t.me/$one"


async def test_a_failed_call_fails_every_waiting_press_and_the_next_asks_again() -> None:
    links = InvoiceLinks()
    order_id = uuid.uuid4()
    refused = InvoiceError(InvoiceFailure.REFUSED, "Bad Request: STARS_INVOICE_INVALID")
    ask = OneCall(refused)
    presses = [asyncio.ensure_future(links.link(order_id, ask)) for _ in range(20)]
    await asyncio.sleep(0)
    ask.release.set()
    answers = await asyncio.gather(*presses, return_exceptions=True)
    assert answers == [refused] * 20
    assert ask.calls == 1
    again = OneCall("https://t.me/$again")
    again.release.set()
    assert await links.link(order_id, again) == "https://t.me/$again"
    assert again.calls == 1
