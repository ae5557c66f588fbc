"""A real app backend for the events tests: an aiohttp endpoint that checks every
request's signature the way docs/events.md tells integrators to, records what came, and
fails, hangs or goes down on demand."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from models.values import utcnow

TOLERANCE = 300  # seconds a signature's timestamp may be off


@dataclass
class Request:
    event_id: str
    body: dict[str, Any]
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class Receiver:
    def __init__(
        self, secret: str, *, clock: Callable[[], datetime] = utcnow, seed: int = 15
    ) -> None:
        self.secret = secret.encode()
        self.clock = clock
        self.rng = random.Random(seed)
        self.requests: list[Request] = []  # every well-signed request, answered, in order
        self.arrived: list[str] = []  # every well-signed request as it came in
        self.forged = 0
        self.fail_ratio = 0.0
        self.down: tuple[datetime, datetime] | None = None  # 503 while clock() is within
        self.failing: set[str] = set()  # event ids answered 500
        self.failing_users: set[int] = set()
        self.slow_users: dict[int, float] = {}  # seconds to think before answering
        self.hold: asyncio.Event | None = None  # while unset, answers hang (sent after)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/events", self.handle)
        return app

    def verified(self, request: web.Request, raw: bytes) -> bool:
        fields = dict(
            part.split("=", 1) for part in request.headers.get("Stars-Signature", "").split(",")
        )
        try:
            timestamp = int(fields["t"])
        except (KeyError, ValueError):
            return False
        expected = hmac.new(
            self.secret, f"{timestamp}.".encode() + raw, hashlib.sha256
        ).hexdigest()
        return (
            hmac.compare_digest(expected, fields.get("v1", ""))
            and abs(self.clock().timestamp() - timestamp) <= TOLERANCE
            and request.content_type == "application/json"
            and request.headers.get("Stars-Event-Id") == json.loads(raw)["id"]
        )

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not self.verified(request, raw):
            self.forged += 1
            return web.Response(status=400)
        body = json.loads(raw)
        self.arrived.append(body["id"])
        user = body["data"]["telegram_id"]
        now = self.clock()
        status = 200
        if self.down and self.down[0] <= now < self.down[1]:
            status = 503
        elif (
            body["id"] in self.failing
            or user in self.failing_users
            or self.rng.random() < self.fail_ratio
        ):
            status = 500
        if user in self.slow_users:
            await asyncio.sleep(self.slow_users[user])
        self.requests.append(Request(body["id"], body, status, dict(request.headers)))
        if self.hold is not None:  # the backend has acted on it; its answer is late
            await self.hold.wait()
        return web.Response(status=status)

    # ------------------------------------------------------------ what came

    def accepted(self) -> list[Request]:
        return [r for r in self.requests if r.status == 200]

    def accepted_ids(self) -> set[str]:
        return {r.event_id for r in self.accepted()}

    def statuses(self) -> list[int]:
        return [r.status for r in self.requests]

    def first_accepted(self, user: int) -> list[str]:
        """The user's event ids in the order each was first accepted."""
        seen: list[str] = []
        for r in self.accepted():
            if r.body["data"]["telegram_id"] == user and r.event_id not in seen:
                seen.append(r.event_id)
        return seen

    def requested_out_of_order(self, order: dict[int, list[str]]) -> list[str]:
        """Requests for an event sent before every earlier event of its user (by `order`,
        each user's ids as the ledger wrote them) had been accepted."""
        wrong: list[str] = []
        accepted: set[str] = set()
        for r in self.requests:
            user_ids = order.get(r.body["data"]["telegram_id"], [])
            if r.event_id in user_ids:
                earlier = user_ids[: user_ids.index(r.event_id)]
                if not accepted.issuperset(earlier):
                    wrong.append(r.event_id)
            if r.status == 200:
                accepted.add(r.event_id)
        return wrong

    async def wait_until(
        self, done: Callable[[], bool], timeout: float = 30.0, what: str = "deliveries"
    ) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not happen; got {self.statuses()[-20:]}")
            await asyncio.sleep(0.02)
