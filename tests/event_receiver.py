"""A real app backend for the events tests: an aiohttp endpoint that checks every
request's signatures the way docs/events.md tells integrators to (the Standard Webhooks
headers with the maintained `standardwebhooks` library, and the older Stars-Signature
by hand), records what came, and fails, hangs, throttles or goes away on demand."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook

from models.values import utcnow

TOLERANCE = 300  # seconds a signature's timestamp may be off


@dataclass
class Request:
    event_id: str
    body: dict[str, Any]
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""


class Receiver:
    def __init__(
        self,
        secret: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        seed: int = 15,
        stars_signature: bool = True,
    ) -> None:
        # False: only the Standard Webhooks headers are checked (the older one is
        # signed with the current secret alone, so a receiver mid-rotation skips it).
        self.stars_signature = stars_signature
        self.use_secret(secret)
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
        # Answered to every well-signed request instead, with these headers, while set.
        self.answer: tuple[int, dict[str, str]] | None = None

    def use_secret(self, secret: str) -> None:
        """The secret the backend was given: as docs/events.md says, the library gets a
        `whsec_` secret as it is and any other as bytes (a str would be base64-decoded)."""
        self.secret = secret.encode()
        self.webhook = Webhook(secret if secret.startswith("whsec_") else secret.encode())

    def standard_verified(self, headers: dict[str, str], raw: bytes) -> bool:
        """The library's verify(); under a test clock far from real time (its timestamp
        check uses the real one) the library's signature with our clock's tolerance."""
        try:
            timestamp = int(headers.get("webhook-timestamp", ""))
            if abs(time.time() - timestamp) <= TOLERANCE:
                self.webhook.verify(raw, headers)
                return True
            # Any exception: a malformed webhook-signature raises a plain ValueError.
            expected = self.webhook.sign(headers["webhook-id"], _at(timestamp), raw.decode())
            given = headers["webhook-signature"].split(" ")
            return expected in given and abs(self.clock().timestamp() - timestamp) <= TOLERANCE
        except Exception:
            return False

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
        headers = {name.lower(): value for name, value in request.headers.items()}
        event_id = json.loads(raw)["id"]
        return (
            (
                not self.stars_signature
                or (
                    hmac.compare_digest(expected, fields.get("v1", ""))
                    and abs(self.clock().timestamp() - timestamp) <= TOLERANCE
                )
            )
            and request.content_type == "application/json"
            and request.headers.get("Stars-Event-Id") == event_id
            and headers.get("webhook-id") == event_id
            and headers.get("webhook-timestamp") == str(timestamp)
            and self.standard_verified(headers, raw)
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
        extra: dict[str, str] = {}
        if self.answer is not None:
            status, extra = self.answer
        elif self.down and self.down[0] <= now < self.down[1]:
            status = 503
        elif (
            body["id"] in self.failing
            or user in self.failing_users
            or self.rng.random() < self.fail_ratio
        ):
            status = 500
        if user in self.slow_users:
            await asyncio.sleep(self.slow_users[user])
        self.requests.append(Request(body["id"], body, status, dict(request.headers), raw))
        if self.hold is not None:  # the backend has acted on it; its answer is late
            await self.hold.wait()
        return web.Response(status=status, headers=extra)

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


def _at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)
