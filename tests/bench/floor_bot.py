"""The floor for the bot: a bare aiogram bot that approves every checkout and replies to
every payment, with no checks and no database, and as many connections to Telegram as
ours (TELEGRAM_CONNECTIONS, the same default). `python -m tests.bench.floor_bot`."""

from __future__ import annotations

import os

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message, PreCheckoutQuery

from models.infra.loop import run
from models.infra.settings import Settings


async def main() -> None:
    default = Settings.model_fields["telegram_connections"].default
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"]),
        limit=int(os.environ.get("TELEGRAM_CONNECTIONS", default)),
    )
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    dispatcher = Dispatcher()

    @dispatcher.pre_checkout_query()
    async def approve(query: PreCheckoutQuery) -> None:
        await query.answer(ok=True)

    @dispatcher.message(F.successful_payment)
    async def thank(message: Message) -> None:
        await message.answer("ok")

    await dispatcher.start_polling(
        bot, allowed_updates=["message", "pre_checkout_query"], polling_timeout=25
    )


if __name__ == "__main__":
    run(main())  # the loop run_bot.py runs on
