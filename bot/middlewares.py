"""Outer middleware around every update: log context, in-flight tracking, user upkeep."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from aiogram.types import User as TgUser

from bot.lanes import is_payment
from models.users import upsert_user
from models.values import Profile

log = structlog.get_logger("bot")
USER_UPSERT_TIMEOUT = 5.0


class RunningHandlers:
    """The handler tasks running now, so shutdown can wait for them before the
    database closes (aiogram itself never awaits them)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    async def drain(self, timeout: float) -> int:
        """Wait for running handlers; returns how many were still running at the end."""
        pending = {task for task in self.tasks if not task.done()}
        if pending:
            log.info("shutdown.draining_handlers", count=len(pending))
            _, pending = await asyncio.wait(pending, timeout=timeout)
        return len(pending)


class UpdateMiddleware(BaseMiddleware):
    def __init__(self, running: RunningHandlers, profiles: ProfileCache) -> None:
        self.running = running
        self.profiles = profiles

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        user: TgUser | None = data.get("event_from_user")
        # Payment updates leave the profile alone: the API wrote it from the same
        # Telegram data when it opened the order moments before the pre-checkout, and
        # the credit itself makes sure the user row exists. Under a sales spike every
        # buyer is new to this cache, so that write would double the database work.
        payment = is_payment(event)
        task = asyncio.current_task()
        if task is not None:
            self.running.tasks.add(task)
        with structlog.contextvars.bound_contextvars(
            update_id=event.update_id, user_id=user.id if user else None
        ):
            try:
                return await handler(event, data)
            finally:
                if user is not None and not user.is_bot and not payment:
                    self.profiles.remember(user)
                if task is not None:
                    self.running.tasks.discard(task)


class ProfileCache:
    """Writes a user's names and language in the background, and only when they changed
    since this process last wrote them.

    The write is its own task: it never delays an update, and a slow database cannot
    hold a payment handler (or shutdown, which waits for handlers) behind it.
    """

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self.written: dict[int, Profile] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def remember(self, user: TgUser) -> None:
        profile = Profile(user.id, user.username, user.first_name, user.language_code)
        if self.written.get(user.id) == profile:
            return
        task = asyncio.create_task(self._write(profile))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _write(self, profile: Profile) -> None:
        try:
            async with asyncio.timeout(USER_UPSERT_TIMEOUT):
                await upsert_user(profile)
        except Exception as error:  # a stale name is no reason to fail an update
            log.warning("user.upsert_failed", error=repr(error))
            return
        if len(self.written) >= self.size:
            self.written.clear()
        self.written[profile.id] = profile

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()
