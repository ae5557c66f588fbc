"""Bounded concurrency per kind of update, so a burst of commands never holds a payment back.

aiogram's own limit (`start_polling(tasks_concurrency_limit=...)`) is one semaphore that
the polling loop acquires before it hands out the next update: with the semaphore full of
slow commands, a pre-checkout query fetched behind them does not even start, and
Telegram's 10-second deadline runs out. Instead every update becomes a task at once and
waits for a slot in its own lane: payments in one, everything else in the other.

Memory is bounded by shedding, not by pausing: a worker that stopped fetching while
commands piled up would leave the pre-checkout queries behind them at Telegram too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update

from models.infra import metrics

log = structlog.get_logger("bot")


def is_payment(update: Update) -> bool:
    """A pre-checkout query or a payment service message (successful or refunded)."""
    message = update.message
    return update.pre_checkout_query is not None or (
        message is not None
        and (message.successful_payment is not None or message.refunded_payment is not None)
    )


class Lanes(BaseMiddleware):
    """Outer middleware: each update runs once its lane has a free slot.

    Commands are bounded twice: `commands` run at once (database pool, memory), and at
    most `backlog` are held in the process; a command arriving beyond that is dropped
    unanswered (counted in `stars_commands_shed`), and the sender may simply send it
    again. Payments are only bounded in concurrency: Telegram sends one per purchase
    attempt, and each needs an invoice our API handed out under its own rate limits,
    whereas anyone can send commands for free.
    """

    def __init__(self, *, payments: int, commands: int, backlog: int) -> None:
        self._payments = asyncio.Semaphore(payments)
        self._commands = asyncio.Semaphore(commands)
        self.backlog = backlog
        self.held = 0  # commands taken from Telegram and not finished
        self.shed = 0  # commands dropped since the backlog last had room
        self.closed = False
        self.skipped = 0

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        if is_payment(event):
            async with self._payments:
                return await handler(event, data)
        if self.held >= self.backlog:
            self.shed += 1
            metrics.COMMANDS_SHED.inc()
            if self.shed == 1:
                log.warning("commands.shedding", commands_held=self.held)
            return UNHANDLED
        if self.shed:
            log.warning("commands.shed", count=self.shed)
            self.shed = 0
        self.held += 1
        try:
            async with self._commands:
                if self.closed:
                    # Stopping: running handlers finish, but a backlog of commands could
                    # outlast the drain and then meet a closed database.
                    self.skipped += 1
                    return UNHANDLED
                return await handler(event, data)
        finally:
            self.held -= 1

    def close(self) -> None:
        """Let commands still waiting for a slot go unhandled (payments still run)."""
        self.closed = True
