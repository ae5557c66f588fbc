"""The signature checks that docs/events.md gives integrators, Python and Node, run as
written against the real events sender: they take every event once, and refuse forged or
stale deliveries."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.events import EventSender, sign
from models.events.delivery import event_body, public_id
from models.events.outbox import switch_events
from models.kinds import EntryKind, EventState
from models.ledger.debits import debit
from models.ledger.entries import apply_entry
from models.tables import Event
from tests.processes import ROOT, free_port

SECRET = "whsec_" + "r3adm3" * 6
PAGE = ROOT / "docs" / "events.md"
SECTION = "## Checking a delivery"


def example(language: str) -> str:
    """The page's one example in `language`, from its last section."""
    text = PAGE.read_text()
    section = text[text.index(SECTION) :]
    end = section.find("\n## ", len(SECTION))
    [code] = re.findall(rf"```{language}\n(.*?)```", section if end < 0 else section[:end], re.S)
    return str(code)


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
        sender = EventSender(url, SECRET.encode(), poll_interval=0.05)
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


async def post(url: str, body: bytes, signature: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "Stars-Signature": signature},
        ) as response,
    ):
        return response.status


async def hostile_deliveries(url: str, body: bytes) -> None:
    """The same event again answers 2xx; forged, stale or garbled ones are refused."""
    key, now = SECRET.encode(), int(time.time())
    assert await post(url, body, sign(key, now, body)) in (200, 204)
    assert await post(url, body, sign(b"x" * 32, now, body)) == 400
    assert await post(url, body, sign(key, now - 3600, body)) == 400
    assert await post(url, body + b" ", sign(key, now, body)) == 400
    assert await post(url, body, f"t={now},v1=zz€") == 400
    assert await post(url, body, "") == 400


async def test_the_python_example(
    deliver_to: Callable[[str], Awaitable[dict[int, list[str]]]], aiohttp_server: Any
) -> None:
    module = types.ModuleType("stars_events_example")
    exec(compile(example("python"), str(PAGE), "exec"), module.__dict__)
    module.__dict__["EVENTS_SECRET"] = SECRET.encode()
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


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_the_node_example(
    deliver_to: Callable[[str], Awaitable[dict[int, list[str]]]], tmp_path: Path
) -> None:
    script = tmp_path / "stars-events.js"
    script.write_text(example("js"))
    port = free_port()
    node = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        env={"EVENTS_SECRET": SECRET, "PORT": str(port), "PATH": "/usr/bin:/bin"},
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
