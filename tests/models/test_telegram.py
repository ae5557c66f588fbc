"""The Bot API client both processes share (models/infra/telegram.py)."""

from __future__ import annotations

import asyncio

from models.infra.telegram import make_bot
from tests.emulator import Fault, running_emulator
from tests.helpers import TOKEN, make_settings
from tests.tcp_proxy import TcpProxy


async def test_calls_wait_for_one_of_telegram_connections_and_never_open_more() -> None:
    async with running_emulator() as emulator:
        proxy = TcpProxy("127.0.0.1", int(emulator.url.rsplit(":", 1)[1]))
        await proxy.start()
        bot = make_bot(
            make_settings(
                telegram_api_url=f"http://127.0.0.1:{proxy.port}", telegram_connections=3
            )
        )
        try:
            emulator.set_fault("sendMessage", Fault("hang"))
            sends = [
                asyncio.ensure_future(bot.send_message(chat_id=1000 + i, text="hi"))
                for i in range(8)
            ]
            for _ in range(500):
                if len(emulator.bot(TOKEN).calls_of("sendMessage")) >= 3:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)  # time for a fourth call, were one allowed
            assert len(emulator.bot(TOKEN).calls_of("sendMessage")) == 3
            assert proxy.open == 3

            emulator.clear_faults()
            await asyncio.gather(*sends)
            assert len(emulator.bot(TOKEN).calls_of("sendMessage")) == 8
            assert proxy.peak == 3
        finally:
            await bot.session.close()
            await proxy.stop()
