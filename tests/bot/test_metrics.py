"""The worker's own metrics endpoint (BOT_METRICS_PORT) moves with the payment flow."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.emulator import BotApiEmulator
from tests.helpers import ADMIN, ALICE, BORIS, TOKEN, metric
from tests.processes import free_port
from tests.system import invoice_for, start_worker


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        return await response.text()


async def test_purchase_rejection_duplicate_and_refund_move_the_counters(
    tmp_path: Path,
    emulator: BotApiEmulator,
) -> None:
    db_url = f"sqlite://{tmp_path}/stars.sqlite3"
    emulator.set_star_balance(TOKEN, 1234, nanostar_amount=500_000_000)
    port = free_port()
    worker = await start_worker(
        tmp_path, emulator, db_url, BOT_METRICS_PORT=port, ADMIN_IDS=str(ADMIN["id"])
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        await worker.wait_for_log("Start polling")
        link = await invoice_for(emulator, db_url)
        rejected = await emulator.checkout(link, BORIS)  # not the owner
        assert rejected.status == "rejected"
        paid = await emulator.pay(link, ALICE, repeat=2)  # delivered twice
        await emulator.wait_for_message(TOKEN, ALICE["id"])
        emulator.send_text(TOKEN, ADMIN, f"/refund {paid.charge_id}")
        await emulator.wait_for_message(TOKEN, ADMIN["id"])
        await asyncio.sleep(0.5)
        text = await scrape(url)
    finally:
        await worker.stop()
    assert metric(text, "stars_precheckouts_total", result="rejected", reason="not_owner") == 1
    assert metric(text, "stars_precheckouts_total", result="approved", reason="ok") == 1
    assert metric(text, "stars_charges_credited_total", source="update") == 1
    assert metric(text, "stars_credited_stars_total", source="update") == 100
    assert metric(text, "stars_charge_duplicates_total", source="update") == 1
    assert metric(text, "stars_refunds_recorded_total", source="command") == 1
    assert metric(text, "stars_notices_total", outcome="sent") >= 1
    assert metric(text, "stars_precheckout_answer_seconds_count") == 2
    assert metric(text, "stars_reconcile_passes_total", outcome="complete") >= 1
    assert metric(text, "stars_last_poll_timestamp_seconds") > 1.7e9
    assert metric(text, "stars_bot_balance") == 1234.5
    assert "user_id" not in text
