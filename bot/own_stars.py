"""The bot's own Stars balance (getMyStarBalance): refunds are paid out of it."""

from __future__ import annotations

import asyncio

import structlog
from aiogram import Bot

from models.infra import metrics
from models.queries.accounts import balances_total

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
    """The bot's Stars and what its users hold together, as gauges: a bot whose users
    hold more than it owns cannot honour them all (alerts.yml)."""
    while True:
        await read_own_balance(bot)
        try:
            metrics.USERS_STARS_TOTAL.set(await balances_total())
        except Exception as error:  # the database is away: the next round tries again
            log.warning("own_stars.users_total_failed", error=repr(error))
        await asyncio.sleep(interval)
