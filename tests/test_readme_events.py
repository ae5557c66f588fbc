"""The signature checks that docs/events.md gives integrators, run as written against the
real events sender: the maintained Standard Webhooks libraries in Python and Node, and
the hand-written check of the older Stars-Signature. They take every event once, and
refuse forged, stale and malformed deliveries."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.events import EventSender, sign
from models.events.delivery import event_body, public_id
from models.events.outbox import switch_events
from models.events.signing import SigningKeys, webhook_key, webhook_signature
from models.kinds import EntryKind, EventState
from models.ledger.debits import debit
from models.ledger.entries import apply_entry
from models.tables import Event
from tests.processes import ROOT, free_port

SECRET = "whsec_" + "r3adm3" * 6
PAGE = ROOT / "docs" / "events.md"
SECTION = "## Checking a delivery"
BY_HAND = "### Checking Stars-Signature by hand"


def example(language: str, heading: str = SECTION) -> str:
    """The page's first example in `language` under `heading`, before the next heading."""
    text = PAGE.read_text()
    section = text[text.index(heading) :]
    ends = [i for i in (section.find("\n## ", 1), section.find("\n### ", 1)) if i > 0]
    code = re.findall(
        rf"```{language}\n(.*?)```", section[: min(ends, default=len(section))], re.S
    )
    return str(code[0])


async def write_events() -> dict[int, list[str]]:
    for user in (11, 12):
        await apply_entry(user, 100, EntryKind.DEV_CREDIT, note="welcome")
        await debit(user, 30, "a teddy bear", f"gift-{user}")
    order: dict[int, list[str]] = {}
    for event in await Event.all().order_by("entry_id"):
        order.setdefault(event.user_id, []).append(public_id(event.id))
    return order


@pytest.fixture
async def deliver_to(db: str) -> AsyncIterator[Callable[[str], Awaitable[dict[int, list[str]]]]]:
    """Runs the real sender against a URL until every event written is delivered."""
    tasks: list[asyncio.Task[None]] = []

    async def deliver(url: str) -> dict[int, list[str]]:
        await switch_events(True)
        order = await write_events()
        sender = EventSender(url, SigningKeys.from_secrets(SECRET), poll_interval=0.05)
        tasks.append(asyncio.create_task(sender.run()))
        deadline = time.monotonic() + 30
        while await Event.filter(state=EventState.PENDING).count():
            assert time.monotonic() < deadline, "not delivered"
            await asyncio.sleep(0.05)
        return order

    yield deliver
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url, data=body, headers={"Content-Type": "application/json", **headers}
        ) as response,
    ):
        return response.status


def standard(body: bytes, *, key: bytes | None = None, at: int | None = None) -> dict[str, str]:
    event_id, now = json.loads(body)["id"], at or int(time.time())
    signature = webhook_signature((key or webhook_key(SECRET),), event_id, now, body)
    return {"webhook-id": event_id, "webhook-timestamp": str(now), "webhook-signature": signature}


async def hostile_deliveries(url: str, body: bytes) -> None:
    """The same event again answers 2xx; forged, stale, garbled or malformed ones 400."""
    now = int(time.time())
    assert await post(url, body, standard(body)) in (200, 204)
    assert await post(url, body, standard(body, key=b"x" * 32)) == 400
    assert await post(url, body, standard(body, at=now - 3600)) == 400
    assert await post(url, body + b" ", standard(body)) == 400
    malformed = standard(body) | {"webhook-signature": "v1zz€"}  # the library's ValueError
    assert await post(url, body, malformed) == 400
    assert await post(url, body, standard(body) | {"webhook-signature": "v1,!!"}) == 400
    assert await post(url, body, {}) == 400


async def hostile_stars_deliveries(url: str, body: bytes) -> None:
    """The same for the older header."""
    key, now = SECRET.encode(), int(time.time())
    assert await post(url, body, {"Stars-Signature": sign(key, now, body)}) in (200, 204)
    assert await post(url, body, {"Stars-Signature": sign(b"x" * 32, now, body)}) == 400
    assert await post(url, body, {"Stars-Signature": sign(key, now - 3600, body)}) == 400
    assert await post(url, body + b" ", {"Stars-Signature": sign(key, now, body)}) == 400
    assert await post(url, body, {"Stars-Signature": f"t={now},v1=zz€"}) == 400
    assert await post(url, body, {}) == 400


async def test_the_python_example(
    deliver_to: Callable[[str], Awaitable[dict[int, list[str]]]],
    aiohttp_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENTS_SECRET", SECRET)
    module = types.ModuleType("stars_events_example")
    exec(compile(example("python"), str(PAGE), "exec"), module.__dict__)
    reacted: list[dict[str, Any]] = []

    async def react(event: dict[str, Any]) -> None:
        reacted.append(event)

    module.__dict__["react"] = react
    server = await aiohttp_server(module.app)
    url = str(server.make_url("/stars-events"))
    order = await deliver_to(url)
    assert [e["id"] for e in reacted if e["data"]["telegram_id"] == 11] == order[11]
    assert [e["id"] for e in reacted if e["data"]["telegram_id"] == 12] == order[12]
    first = json.dumps(reacted[0], separators=(",", ":")).encode()
    await hostile_deliveries(url, first)
    assert len(reacted) == 4  # the repeat was recognised by its id


def node_library() -> None:
    """Node with the npm `standardwebhooks` package (.ci/run installs it), or a skip."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if not (ROOT / "node_modules" / "standardwebhooks").is_dir():
        if os.environ.get("CI"):
            pytest.fail("node_modules/standardwebhooks is missing: .ci/run installs it")
        pytest.skip("npm install --no-save standardwebhooks@1.1.1 (as .ci/run does)")


async def test_the_stars_signature_check_by_hand(
    deliver_to: Callable[[str], Awaitable[dict[int, list[str]]]], aiohttp_server: Any
) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(example("python", BY_HAND), str(PAGE), "exec"), namespace)
    verify = namespace["verify_stars_signature"]
    reacted: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(SECRET.encode(), request.headers.get("Stars-Signature", ""), body):
            return web.Response(status=400)
        event_id = json.loads(body)["id"]
        if event_id not in reacted:
            reacted.append(event_id)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/stars-events", handle)
    server = await aiohttp_server(app)
    url = str(server.make_url("/stars-events"))
    order = await deliver_to(url)
    assert sorted(reacted) == sorted(order[11] + order[12])
    first = await Event.all().order_by("entry_id").first()
    assert first is not None
    raw = await event_body(first.id)
    assert raw is not None
    await hostile_stars_deliveries(url, raw)
    assert len(reacted) == 4


async def test_the_node_example(
    deliver_to: Callable[[str], Awaitable[dict[int, list[str]]]], tmp_path: Path
) -> None:
    node_library()
    script = tmp_path / "stars-events.js"
    script.write_text(example("js"))
    port = free_port()
    node = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        env={
            "EVENTS_SECRET": SECRET,
            "PORT": str(port),
            "PATH": "/usr/bin:/bin",
            "NODE_PATH": str(ROOT / "node_modules"),  # .ci/run's npm install
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        url = f"http://127.0.0.1:{port}/stars-events"
        order = await deliver_to(url)
        first = await Event.all().order_by("entry_id").first()
        assert first is not None
        raw = await event_body(first.id)
        assert raw is not None
        await hostile_deliveries(url, raw)
    finally:
        node.terminate()
        out, err = await asyncio.wait_for(node.communicate(), 10)
    lines = [line.split() for line in out.decode().splitlines()]
    assert err.decode() == ""
    for user in (11, 12):
        assert [line[0] for line in lines if line[2] == str(user)] == order[user]
    assert sorted(line[1] for line in lines) == ["balance.adjusted"] * 2 + ["debit.created"] * 2
    assert len(lines) == 4  # once each, the repeat recognised by its id
