"""Retrying database work that must not be dropped: a credit or a refund record."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

log = structlog.get_logger("bot")
T = TypeVar("T")


async def retry_database(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    window: float = 120.0,
    attempt_timeout: float = 15.0,
) -> T | None:
    """Run `operation` until it succeeds or `window` seconds pass; None if it never did.

    The operations passed here are idempotent, so a retry after an attempt whose
    outcome is unknown (a timeout mid-commit) is safe. What still fails after the
    window is left to reconciliation, which finds it in Telegram's own ledger.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + window
    delay = 0.25
    attempt = 0
    while True:
        attempt += 1
        try:
            async with asyncio.timeout(attempt_timeout):
                return await operation()
        except Exception as error:
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.error(f"{what}.gave_up", attempts=attempt, error=repr(error))
                return None
            log.warning(f"{what}.retrying", attempt=attempt, error=repr(error))
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 5.0)
