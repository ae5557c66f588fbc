"""The emulator sells gifts and Premium as the real server does: from the bot's own
Stars, with outgoing rows of the real shapes, the real refusals, and faults on demand."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from models.gifts.rules import purchase_row
from tests.emulator import BotApiEmulator
from tests.emulator.server import Fault
from tests.helpers import TOKEN

TEDDY, SOLD_OUT, LIMITED = "5170233102089322756", "5168043875654172773", "5170314324215857265"


async def call(emulator: BotApiEmulator, method: str, **params: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{emulator.url}/bot{TOKEN}/{method}", json=params) as response,
    ):
        return response.status, await response.json()


async def test_a_gift_is_paid_from_the_bot_s_stars_and_recorded_as_an_outgoing_row(
    emulator: BotApiEmulator,
) -> None:
    emulator.set_star_balance(TOKEN, 100)
    status, catalog = await call(emulator, "getAvailableGifts")
    assert status == 200
    assert TEDDY in [g["id"] for g in catalog["result"]["gifts"]]
    assert (await call(emulator, "sendGift", user_id=7, gift_id=TEDDY, pay_for_upgrade=True))[
        1
    ] == {"ok": True, "result": True}
    assert (await call(emulator, "giftPremiumSubscription", user_id=7, month_count=3))[0] == 400
    assert (await call(emulator, "getMyStarBalance"))[1]["result"]["amount"] == 60
    rows = (await call(emulator, "getStarTransactions"))[1]["result"]["transactions"]
    assert [purchase_row(r).item for r in rows if purchase_row(r)] == [f"gift:{TEDDY}"]  # type: ignore[union-attr]
    assert rows[-1]["amount"] == 40
    assert rows[-1]["receiver"]["transaction_type"] == "gift_purchase"


async def test_the_refusals_use_the_real_texts(emulator: BotApiEmulator) -> None:
    emulator.set_star_balance(TOKEN, 10)
    assert (await call(emulator, "sendGift", user_id=7, gift_id=TEDDY))[1]["description"] == (
        "Bad Request: BALANCE_TOO_LOW"
    )
    emulator.set_star_balance(TOKEN, 1000)
    sold_out = await call(emulator, "sendGift", user_id=7, gift_id=SOLD_OUT)
    assert sold_out[1]["description"] == "Bad Request: STARGIFT_USAGE_LIMITED"
    to_channel = await call(emulator, "sendGift", chat_id=-1001, gift_id=LIMITED)
    assert to_channel[0] == 400
    assert (await call(emulator, "getMyStarBalance"))[1]["result"]["amount"] == 1000


async def test_a_lost_answer_still_makes_the_purchase_and_late_rows_come_later(
    emulator: BotApiEmulator,
) -> None:
    emulator.set_star_balance(TOKEN, 100)
    emulator.set_purchase_row_delay(TOKEN, 0.3)
    emulator.set_fault("sendGift", Fault("error_after", status=502, times=1))
    assert (await call(emulator, "sendGift", user_id=7, gift_id=TEDDY))[0] == 502
    assert emulator.own_stars(TOKEN) == 85
    assert (await call(emulator, "getStarTransactions"))[1]["result"]["transactions"] == []
    for _ in range(100):
        rows = (await call(emulator, "getStarTransactions"))[1]["result"]["transactions"]
        if rows:
            break
        await asyncio.sleep(0.02)
    assert len(rows) == 1
    emulator.set_fault("sendGift", Fault("error", status=500, times=1))
    assert (await call(emulator, "sendGift", user_id=7, gift_id=TEDDY))[0] == 500
    assert emulator.own_stars(TOKEN) == 85  # a lost request made no purchase
