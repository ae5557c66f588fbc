"""Payments have their own lane: no burst of commands can hold a checkout back."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from tests.emulator import BotApiEmulator, Fault
from tests.helpers import ALICE, TOKEN
from tests.system import System, start_system

FLOOD = 1500


@pytest.mark.slow  # 1,500 commands on one core: its deadline needs the core to itself
async def test_a_checkout_behind_a_flood_of_commands_is_answered_well_in_time(
    system: System,
) -> None:
    order = await system.order(ALICE)
    # Under a flood Telegram answers slowly: every reply takes two seconds, so each
    # command holds its handler that long.
    system.emulator.set_fault("sendMessage", Fault("slow", delay=2.0))
    users = [
        {"id": 500_000 + n, "first_name": f"U{n}", "language_code": "en"} for n in range(FLOOD)
    ]
    for user in users:
        system.say(user, "/balance")

    outcome = await system.emulator.checkout(order["invoice_url"], ALICE)

    assert outcome.status == "paid"
    assert outcome.answer_seconds is not None
    assert outcome.answer_seconds < 3.0  # Telegram's deadline is 10 s
    system.emulator.clear_faults()
    # Nothing was dropped: every command still gets its one answer.
    state = system.emulator.bot(TOKEN)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while len(state.messages) < FLOOD and loop.time() < deadline:
        await asyncio.sleep(0.1)
    await system.settle(timeout=30)
    answered = Counter(m["chat"]["id"] for m in state.messages)
    assert answered == {user["id"]: 1 for user in users}
    assert all(m["text"] == "Your balance: 0 ⭐" for m in state.messages)


async def test_past_the_backlog_commands_are_shed_and_checkouts_still_answered(
    db: str, emulator: BotApiEmulator, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory stays bounded without pausing: a worker that stopped fetching would leave
    the checkouts queued behind the commands at Telegram too."""
    monkeypatch.setattr("bot.worker.COMMAND_BACKLOG", 100)
    system, stop, task = await start_system(aiohttp_client, emulator)
    try:
        order = await system.order(ALICE)
        emulator.set_fault("sendMessage", Fault("hang"))
        users = [{"id": 700_000 + n, "first_name": f"U{n}"} for n in range(400)]
        for user in users:
            system.say(user, "/balance")
        lanes = system.worker.lanes
        async with asyncio.timeout(20):
            while lanes.held + lanes.shed < len(users):
                await asyncio.sleep(0.05)
        assert lanes.held == 100
        assert lanes.shed == len(users) - 100

        outcome = await emulator.checkout(order["invoice_url"], ALICE)
        assert outcome.status == "paid"
        assert outcome.answer_seconds is not None
        assert outcome.answer_seconds < 3.0

        emulator.clear_faults()
        state = emulator.bot(TOKEN)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while lanes.held and loop.time() < deadline:
            await asyncio.sleep(0.1)
        answered = Counter(
            m["chat"]["id"] for m in state.messages if m["chat"]["id"] != ALICE["id"]
        )
        assert len(answered) == 100
        assert set(answered.values()) == {1}
        # A shed command costs its sender a retry, nothing more: it is answered then.
        system.say(users[-1], "/balance")
        async with asyncio.timeout(20):
            while users[-1]["id"] not in {m["chat"]["id"] for m in state.messages}:
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
