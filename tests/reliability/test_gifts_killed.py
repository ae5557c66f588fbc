"""A worker SIGKILLed while its sendGift calls are on the wire, then a new one: exactly
one purchase per gift, and `run_bot.py check` passes. The real processes on PostgreSQL;
slow (a lease to run out, an in-flight time to pass)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from models.infra.db import close_database, open_database
from models.kinds import EntryKind, GiftState
from models.ledger.entries import apply_entry
from models.queries.accounts import get_balance
from models.tables import Gift
from models.users import upsert_user
from models.values import Profile
from tests.databases import NO_PG_REASON, PG_URL
from tests.emulator import BotApiEmulator, Fault
from tests.helpers import TOKEN
from tests.reliability.harness import Stack

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not PG_URL, reason=NO_PG_REASON)]
KEY = "svc_" + "r" * 40
BUYER = 60_001
TEDDY = "5170233102089322756"


class GiftStack(Stack):
    def env(self) -> dict[str, Any]:
        return {
            **super().env(),
            "SERVICE_API_KEYS": KEY,
            "GIFT_ANSWER_WAIT": 0,
            "GIFT_CALL_TIMEOUT": 2,
            "GIFT_SETTLING_MINUTES": 1,
        }


async def in_db(stack: Stack, work: Any) -> Any:
    await open_database(stack.direct_url, pool_size=2)
    try:
        return await work()
    finally:
        await close_database()


async def test_a_worker_killed_mid_call_then_recovered_sends_each_gift_once(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    emulator.set_star_balance(TOKEN, 100_000)
    async with GiftStack(tmp_path, emulator) as stack:
        assert stack.http is not None

        async def fund() -> None:
            await upsert_user(Profile(BUYER, first_name="Buyer"))
            await apply_entry(BUYER, 1000, EntryKind.DEV_CREDIT, note="test")

        await in_db(stack, fund)
        # The first three calls buy the gift, and their answers never come back.
        emulator.set_fault("sendGift", Fault("lost", times=3))
        for n in range(5):
            async with stack.http.post(
                f"{stack.api_url}/service/users/{BUYER}/gifts",
                json={"gift_id": TEDDY, "to": {"user_id": 7}},
                headers={"Authorization": f"Bearer {KEY}", "Idempotency-Key": f"kill-{n}"},
            ) as answer:
                assert answer.status in (201, 202), await answer.text()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while len(emulator.bot(TOKEN).calls_of("sendGift")) < 5:
            assert loop.time() < deadline, "the worker never sent the gifts"
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # the answered two are written; three calls still hang
        await stack.kill_bot()
        emulator.clear_faults()
        await stack.start_bot()

        async def states() -> list[tuple[str, str | None]]:
            return list(await Gift.all().values_list("state", "transaction_id"))

        deadline = loop.time() + 90
        while True:
            found = await in_db(stack, states)
            if all(state == GiftState.SENT and tx for state, tx in found):
                break
            assert loop.time() < deadline, found
            await asyncio.sleep(0.5)
        assert len(found) == 5
        assert len({tx for _, tx in found}) == 5
        assert len(emulator.bot(TOKEN).calls_of("sendGift")) == 5  # never called again
        assert len(emulator.bot(TOKEN).purchases) == 5
        assert stack.bot is not None
        assert stack.bot.log.count("gifts.settled_sent") == 3  # the three killed mid-call

        async def balance() -> int | None:
            return await get_balance(BUYER)

        assert await in_db(stack, balance) == 1000 - 5 * 15
        code, report = await stack.check()
        assert code == 0, report
        assert "all invariants hold" in report
