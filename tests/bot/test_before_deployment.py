"""Payment updates that waited at Telegram from before this service was deployed: the
live handlers apply the same cut-off as reconciliation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from models.orders.opening import open_order
from models.tables import LedgerEntry
from models.values import Profile
from tests.emulator import BotApiEmulator
from tests.helpers import ALICE, BORIS, TOKEN
from tests.system import System, start_system


async def running(aiohttp_client: Any, emulator: BotApiEmulator) -> tuple[System, Any, Any]:
    system, stop, task = await start_system(aiohttp_client, emulator)
    for _ in range(200):
        if emulator.bot(TOKEN).allowed_updates:
            break
        await asyncio.sleep(0.02)
    await system.settle()
    return system, stop, task


async def test_a_payment_waiting_from_before_deployment_is_not_credited(
    db: str, emulator: BotApiEmulator, aiohttp_client: Any
) -> None:
    hour_ago = int(time.time()) - 3600
    legacy = emulator.add_invoice(TOKEN, "old-shop:item-7", 100)
    legacy_charge = emulator.charge(legacy, ALICE, date=hour_ago)
    # One of ours, paid while no worker polled: always credited.
    order = await open_order(Profile(BORIS["id"]), 250, ttl=3600, max_pending=5, per_minute=5)
    ours = emulator.add_invoice(TOKEN, str(order.id), 250)
    await asyncio.sleep(1.1)  # Telegram dates are whole seconds: before the worker starts
    our_charge = emulator.charge(ours, BORIS)
    await asyncio.sleep(1.1)

    system, stop, task = await running(aiohttp_client, emulator)
    try:
        assert await LedgerEntry.filter(telegram_payment_charge_id=legacy_charge).count() == 0
        assert await system.balance(ALICE) == 0
        assert emulator.messages_to(TOKEN, ALICE["id"]) == []
        entry = await LedgerEntry.get(telegram_payment_charge_id=our_charge)
        assert (entry.user_id, entry.amount) == (BORIS["id"], 250)

        # Its refund, reported now, is no business of the live handler either.
        emulator.refund_elsewhere(TOKEN, legacy_charge)
        await system.settle()
        assert await LedgerEntry.filter(telegram_payment_charge_id=legacy_charge).count() == 0
        assert emulator.messages_to(TOKEN, ALICE["id"]) == []

        # After deployment the same foreign payload is a payment like any other.
        fresh = emulator.charge(legacy, ALICE)
        await system.settle()
        assert (await LedgerEntry.get(telegram_payment_charge_id=fresh)).anomaly == (
            "unknown_order"
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 40)
