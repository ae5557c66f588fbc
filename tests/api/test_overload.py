"""A spike larger than the API can take: what it takes keeps going, the rest is told at
once to come back, and Telegram gets no more connections than configured."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from api.app import create_app
from api.keys import in_flight_key
from api.middlewares import Handler
from models.infra import metrics
from models.tables import TopUpOrder
from tests.api.raw_http import connection, raw_request, read_answer
from tests.emulator import BotApiEmulator, Fault
from tests.helpers import TOKEN, ApiClient, ClientFactory, make_settings, tma
from tests.tcp_proxy import TcpProxy


def buyer(i: int) -> dict[str, Any]:
    return {"id": 880_000 + i, "first_name": f"B{i}", "language_code": "en"}


def top_up(client: ApiClient, i: int) -> Awaitable[Any]:
    return client.post("/payments/top-up", json={"amount": 100}, headers=tma(buyer(i)))


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def shed_so_far() -> float:
    return float(metrics.REQUESTS_SHED._value.get())


def port(client: ApiClient) -> int:
    assert client.port is not None
    return client.port


async def test_a_request_over_the_bound_is_answered_503_while_the_others_still_wait(
    make_client: ClientFactory, emulator: BotApiEmulator
) -> None:
    client = await make_client(api_max_in_flight=3)
    emulator.set_fault("createInvoiceLink", Fault("hang"))  # holds each top-up in flight
    held = [asyncio.ensure_future(top_up(client, i)) for i in range(3)]
    await until(lambda: client.app[in_flight_key].count == 3, "three top-ups in flight")
    await until(
        lambda: len(emulator.bot(TOKEN).calls_of("createInvoiceLink")) == 3, "three at Telegram"
    )
    shed_before = shed_so_far()

    with structlog.testing.capture_logs() as logs:
        response = await top_up(client, 3)

    # Answered while the three are still held: it waited for none of them.
    assert not any(task.done() for task in held)
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    assert await response.json() == {
        "error": {
            "code": "overloaded",
            "message": "The service is busy right now. Nothing was done; "
            "please try again in a moment.",
        }
    }
    assert shed_so_far() == shed_before + 1
    # Counted, and summed up in one warning (not a line per request).
    assert [e["event"] for e in logs] == ["api.overloaded"]
    assert logs[0]["shed"] == 1
    # Nothing was done for it: no order, no invoice asked for.
    assert await TopUpOrder.filter(user_id=buyer(3)["id"]).count() == 0
    assert len(emulator.bot(TOKEN).calls_of("createInvoiceLink")) == 3
    # A busy process is not a dead one: health and metrics still answer.
    assert (await client.get("/health")).status == 200
    assert (await client.get("/metrics")).status == 200

    emulator.clear_faults()
    assert [r.status for r in await asyncio.gather(*held)] == [201, 201, 201]
    assert client.app[in_flight_key].count == 0
    assert (await top_up(client, 3)).status == 201  # room again


async def test_shed_requests_keep_their_connection(
    make_client: ClientFactory, emulator: BotApiEmulator
) -> None:
    client = await make_client(api_max_in_flight=1)
    emulator.set_fault("createInvoiceLink", Fault("hang"))
    held = asyncio.ensure_future(top_up(client, 0))
    await until(lambda: client.app[in_flight_key].count == 1, "one top-up in flight")
    # Five over the bound, one after another on one connection: each is answered on
    # it, body and all (the body is read, not left to poison the next request).
    async with connection(str(client.host), port(client)) as (reader, writer):
        for i in range(1, 6):
            body = json.dumps({"amount": 100}).encode()
            headers = {
                "Authorization": tma(buyer(i))["Authorization"].encode(),
                "Content-Type": b"application/json",
                "Content-Length": str(len(body)).encode(),
            }
            writer.write(raw_request("POST", "/payments/top-up", headers, body))
            answer = await asyncio.wait_for(read_answer(reader), 5)
            assert answer.status == 503
            assert answer.error_code() == "overloaded"
            assert answer.headers.get("Connection", "keep-alive").lower() == "keep-alive"
    emulator.clear_faults()
    assert (await held).status == 201


async def test_the_api_holds_no_more_connections_to_telegram_than_configured(
    make_client: ClientFactory, emulator: BotApiEmulator
) -> None:
    proxy = TcpProxy("127.0.0.1", int(emulator.url.rsplit(":", 1)[1]))
    await proxy.start()
    try:
        client = await make_client(
            telegram_api_url=f"http://127.0.0.1:{proxy.port}",
            telegram_connections=4,
            api_max_in_flight=100,
        )
        emulator.set_fault("createInvoiceLink", Fault("hang"))
        requests = [asyncio.ensure_future(top_up(client, i)) for i in range(10)]
        await until(lambda: client.app[in_flight_key].count == 10, "ten top-ups in flight")
        await until(
            lambda: len(emulator.bot(TOKEN).calls_of("createInvoiceLink")) == 4, "four calls"
        )
        await asyncio.sleep(0.3)  # time for a fifth call, were one allowed
        assert len(emulator.bot(TOKEN).calls_of("createInvoiceLink")) == 4
        assert proxy.open == 4

        emulator.clear_faults()
        assert [r.status for r in await asyncio.gather(*requests)] == [201] * 10
        assert len(emulator.bot(TOKEN).calls_of("createInvoiceLink")) == 10
        assert proxy.peak == 4
    finally:
        await proxy.stop()


async def test_bodies_still_on_their_way_hold_no_slot(
    db: str, emulator: BotApiEmulator, aiohttp_client: Any
) -> None:
    """A client that sends its headers and withholds its body is not being worked on: as
    many such requests as the bound leave room for everyone else, and each is handled
    when its body arrives."""
    app = create_app(
        make_settings(telegram_api_url=emulator.url, api_max_in_flight=8), init_orm=False
    )
    arrived = 0

    @web.middleware
    async def count_arrivals(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal arrived
        arrived += 1
        return await handler(request)

    app.middlewares.insert(0, count_arrivals)  # outermost: sees each request reach the app
    client: ApiClient = await aiohttp_client(app)
    body = json.dumps({"amount": 100}).encode().ljust(20)
    headers = {
        "Authorization": tma(buyer(0))["Authorization"].encode(),
        "Content-Type": b"application/json",
        "Content-Length": str(len(body)).encode(),
    }
    async with contextlib.AsyncExitStack() as stack:
        withheld = [
            await stack.enter_async_context(connection(str(client.host), port(client)))
            for _ in range(8)
        ]
        for _, writer in withheld:
            writer.write(raw_request("POST", "/payments/top-up", headers))
        await until(lambda: arrived == 8, "eight requests waiting for their bodies")

        response = await client.get("/me", headers=tma(buyer(1)))
        assert response.status == 200, await response.text()
        assert client.app[in_flight_key].count == 0

        for _, writer in withheld:
            writer.write(body)
        answers = [await asyncio.wait_for(read_answer(reader), 10) for reader, _ in withheld]
    # One buyer pressing eight times: one order, given back to the seven others.
    assert sorted(answer.status for answer in answers) == [200] * 7 + [201]
