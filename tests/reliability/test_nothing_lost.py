"""Nothing lost, nothing twice: the real processes under kills, lost updates and outages.

Each case ends with `run_bot.py check`, which compares the ledger with Telegram's own
record of payments. Slow: run apart with `pytest -m slow`, skip with `-m "not slow"`.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.databases import NO_PG_REASON, PG_URL
from tests.emulator import BotApiEmulator, Fault
from tests.emulator.server import SaleLabel
from tests.helpers import TOKEN
from tests.reliability.harness import Stack, buyer

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not PG_URL, reason=NO_PG_REASON)]
PACKAGES = [50, 100, 250, 500]


async def assert_exactly_once(stack: Stack, timeout: float = 30) -> None:
    ledger = await stack.wait_all_credited(timeout)
    missing = set(stack.charges) - set(ledger)
    assert not missing, f"{len(missing)} charges never credited"
    assert {c: ledger[c] for c in stack.charges} == stack.charges
    telegram = set(stack.emulator.bot(TOKEN).payments)
    assert set(ledger) == telegram  # nothing credited that Telegram did not take
    code, report = await stack.check()
    assert code == 0, report
    assert "all invariants hold" in report


async def test_purchases_survive_a_worker_killed_at_random_moments(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    rng = random.Random(20261126)
    async with Stack(tmp_path, emulator, reconcile_interval=2) as stack:
        limit = asyncio.Semaphore(6)  # a burst long enough to kill the worker in

        async def purchase(i: int) -> None:
            async with limit:
                await stack.buy(buyer(i % 40), rng.choice(PACKAGES))

        buying = asyncio.ensure_future(asyncio.gather(*(purchase(i) for i in range(300))))
        kills = 0
        while not buying.done() or kills < 3:  # kill and restart throughout the burst
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            await stack.kill_bot()
            kills += 1
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            await stack.start_bot()
        await buying
        assert len(stack.charges) == 300
        await assert_exactly_once(stack, timeout=60)
        assert stack.bot_starts >= 4


# How Telegram labels the rows (Client.cpp): `paid_media_payment` when it sent no
# product information with the sale; reconciliation and `check` must not mind.
@pytest.mark.parametrize("label", ["invoice_payment", "paid_media_payment"])
async def test_payments_whose_updates_never_arrive_are_credited_by_reconciliation(
    tmp_path: Path, emulator: BotApiEmulator, label: SaleLabel
) -> None:
    emulator.set_sale_label(label)
    interval = 3
    async with Stack(tmp_path, emulator, reconcile_interval=interval) as stack:
        lost = [await stack.buy(buyer(i), 100, deliver=False) for i in range(12)]
        delivered = [await stack.buy(buyer(i), 50) for i in range(3)]
        started = asyncio.get_running_loop().time()
        ledger = await stack.wait_all_credited(timeout=interval * 3)
        assert set(lost + delivered) <= set(ledger)
        assert asyncio.get_running_loop().time() - started <= interval + 2  # one interval
        await assert_exactly_once(stack)
        assert stack.bot is not None
        assert "reconcile.recovered_payment" in stack.bot.log
        # The buyers whose updates were lost are told too.
        texts = [m["text"] for m in emulator.bot(TOKEN).messages]
        assert (
            sum("had not reached your balance" in t or "не дошёл до баланса" in t for t in texts)
            == 12
        )


async def test_a_database_cut_in_the_middle_of_a_burst_loses_and_doubles_nothing(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    async with Stack(tmp_path, emulator, reconcile_interval=3) as stack:
        assert stack.proxy is not None
        limit = asyncio.Semaphore(16)

        async def purchase(i: int) -> None:
            async with limit:
                await stack.buy(buyer(i % 25), PACKAGES[i % 4])

        waiting = [await stack.order(buyer(100 + i), 100) for i in range(6)]
        buying = asyncio.gather(*(purchase(i) for i in range(120)))
        await asyncio.sleep(1.5)
        stack.proxy.cut()
        # Checkouts during the outage are refused politely, inside Telegram's deadline.
        during = await asyncio.gather(
            *(emulator.checkout(link, buyer(100 + i)) for i, link in enumerate(waiting))
        )
        for outcome in during:
            assert outcome.status == "rejected"
            assert outcome.answer_seconds is not None
            assert outcome.answer_seconds < 10
            assert "try again" in (outcome.error_message or "") or "попробуйте" in (
                outcome.error_message or ""
            )
        await asyncio.sleep(2)
        for child in (stack.bot, stack.api):
            assert child is not None
            assert child.process.returncode is None
        stack.proxy.restore()
        await buying
        for i, link in enumerate(waiting):  # the same buyers try again and succeed
            outcome = await emulator.pay(link, buyer(100 + i))
            assert outcome.status == "paid"
            assert outcome.charge_id is not None
            stack.charges[outcome.charge_id] = 100
        await assert_exactly_once(stack, timeout=60)


async def test_a_failing_bot_api_stops_neither_process_and_both_catch_up(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    async with Stack(tmp_path, emulator, reconcile_interval=2) as stack:
        first = [await stack.buy(buyer(i), 100) for i in range(5)]
        for fault in (
            Fault("error", status=502),
            Fault("retry_after", retry_after=1),
            Fault("hang"),
        ):
            emulator.set_fault("*", fault)
            buying = asyncio.gather(*(stack.buy(buyer(i), 250) for i in range(5, 10)))
            await asyncio.sleep(4)
            for child in (stack.bot, stack.api):
                assert child is not None
                assert child.process.returncode is None
            emulator.clear_faults()
            await asyncio.wait_for(buying, 60)
        # And the Bot API down altogether: connections dropped, new ones refused.
        assert stack.telegram is not None
        stack.telegram.cut()
        api_down = await stack.api_status_of_top_up(buyer(11))
        assert api_down == 502
        await asyncio.sleep(3)
        for child in (stack.bot, stack.api):
            assert child is not None
            assert child.process.returncode is None
        stack.telegram.restore()
        await asyncio.wait_for(stack.buy(buyer(11), 500), 60)
        assert set(first) <= set(stack.charges)
        await assert_exactly_once(stack, timeout=60)
