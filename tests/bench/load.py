"""A load generator cheap enough to overload the API from the same two cores.

aiohttp's client spends a few hundred microseconds of CPU per request: offering twice
the API's capacity with it would take more than the core the API itself uses, so the
generator, not the API, would set the pace. This one writes requests built in advance
on keep-alive connections and reads back only the status line, the headers it needs
and the body's length: a few tens of microseconds each.

Open loop: request i is due at start + i / rate whether or not earlier ones were
answered, and its latency counts from when it was due, so a generator or a server
that falls behind shows in the figures instead of hiding in them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.helpers import tma

TIMEOUT = 30.0  # what a client gives up after


def top_up_request(user: dict[str, Any], amount: int = 100) -> bytes:
    body = json.dumps({"amount": amount}).encode()
    head = (
        "POST /payments/top-up HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: {tma(user)['Authorization']}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def top_up_requests(first_user: int, count: int) -> list[bytes]:
    """One top-up by each of `count` different buyers: in a spike, each is someone new."""
    return [
        top_up_request({"id": first_user + i, "first_name": f"U{i}", "language_code": "en"})
        for i in range(count)
    ]


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.answer: asyncio.Future[tuple[int, bool]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower() + b"\r\n"
        at = head.find(b"\r\ncontent-length:")
        length = int(head[at + 17 : head.find(b"\r\n", at + 2)]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        del self.buffer[: end + 4 + length]
        if b"connection: close" in head:
            self.closed = True
        if self.answer is not None and not self.answer.done():
            self.answer.set_result((int(head[9:12]), b"\r\nretry-after:" in head))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionResetError("connection lost"))


@dataclass
class Outcomes:
    """What came back: latencies of the successes (seconds from when each was due),
    the other statuses, and what never got an HTTP answer."""

    ok: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    slowest: float = 0.0  # the longest wait for any answer, success or not
    late: float = 0.0  # the longest a request left after it was due (this process lagging)
    without_retry_after: int = 0  # 503s that did not say when to come back
    connection_errors: int = 0
    timeouts: int = 0
    seconds: float = 0.0  # from the first due time to the last answer

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + self.connection_errors + self.timeouts


class Load:
    """Keep-alive connections to one server, opened as the load needs them."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._idle: list[_Connection] = []
        self.opened = 0

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(_Connection, self.host, self.port)
        self.opened += 1
        return connection

    async def send(self, request: bytes, due: float, outcomes: Outcomes) -> None:
        outcomes.late = max(outcomes.late, time.perf_counter() - due)
        try:
            async with asyncio.timeout(TIMEOUT):
                connection = await self._connection()
                connection.answer = asyncio.get_running_loop().create_future()
                assert connection.transport is not None
                connection.transport.write(request)
                status, retry_after = await connection.answer
        except TimeoutError:
            outcomes.timeouts += 1
            return
        except OSError:
            outcomes.connection_errors += 1
            return
        waited = time.perf_counter() - due
        outcomes.slowest = max(outcomes.slowest, waited)
        outcomes.statuses[status] = outcomes.statuses.get(status, 0) + 1
        if status in (200, 201):
            outcomes.ok.append(waited)
        elif status == 503 and not retry_after:
            outcomes.without_retry_after += 1
        if not connection.closed:
            self._idle.append(connection)

    async def open_loop(self, requests: Iterator[bytes], rate: float, seconds: float) -> Outcomes:
        outcomes = Outcomes()
        total = int(rate * seconds)
        tasks: set[asyncio.Task[None]] = set()
        start = time.perf_counter() + 0.05
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0.001:  # launch in small batches: one timer per millisecond at most
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.send(next(requests), due, outcomes))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.gather(*tasks)
        outcomes.seconds = time.perf_counter() - start
        return outcomes

    async def closed_loop(
        self, requests: Iterator[bytes], clients: int, seconds: float
    ) -> Outcomes:
        """`clients` each sending the next request as soon as the last is answered."""
        outcomes = Outcomes()
        start = time.perf_counter()
        stop_at = start + seconds

        async def client() -> None:
            while (now := time.perf_counter()) < stop_at:
                await self.send(next(requests), now, outcomes)

        await asyncio.gather(*(client() for _ in range(clients)))
        outcomes.seconds = time.perf_counter() - start
        return outcomes

    def close(self) -> None:
        for connection in self._idle:
            if connection.transport is not None:
                connection.transport.close()
        self._idle.clear()


def cycle(requests: list[bytes]) -> Iterator[bytes]:
    return itertools.cycle(requests)
