"""The bot's own Stars balance (getMyStarBalance): refunds are paid out of it."""

from __future__ import annotations

import asyncio

import structlog
from aiogram import Bot

from models.infra import metrics

log = structlog.get_logger("bot.own_stars")


async def read_own_balance(bot: Bot) -> int | None:
    """Whole Stars the bot holds (None when Telegram did not say), also kept as a gauge.

    Telegram rounds `amount` toward zero and the fraction is only negative when
    `amount` is not positive, so `amount` compares exactly against whole Stars.
    """
    try:
        balance = await bot.get_my_star_balance()
    except Exception as error:
        log.warning("own_stars.read_failed", error=repr(error))
        return None
    metrics.BOT_BALANCE.set(balance.amount + (balance.nanostar_amount or 0) / 1e9)
    return balance.amount


async def watch_own_balance(bot: Bot, interval: float) -> None:
    while True:
        await read_own_balance(bot)
        await asyncio.sleep(interval)
