"""Outer middleware around every update: log context, in-flight tracking, user upkeep."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from aiogram.types import User as TgUser

from models.money import Profile, upsert_user

log = structlog.get_logger("bot")
USER_UPSERT_TIMEOUT = 5.0


class InFlight:
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
    def __init__(self, inflight: InFlight) -> None:
        self.inflight = inflight
        self.profiles = ProfileCache()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        user: TgUser | None = data.get("event_from_user")
        task = asyncio.current_task()
        if task is not None:
            self.inflight.tasks.add(task)
        with structlog.contextvars.bound_contextvars(
            update_id=event.update_id, user_id=user.id if user else None
        ):
            try:
                return await handler(event, data)
            finally:
                if user is not None and not user.is_bot:
                    await self.profiles.remember(user)
                if task is not None:
                    self.inflight.tasks.discard(task)


class ProfileCache:
    """Writes a user's names and language after the handler, and only when they changed
    since this process last wrote them: a payer's checkout and payment need one write."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self.written: dict[int, Profile] = {}

    async def remember(self, user: TgUser) -> None:
        profile = Profile(user.id, user.username, user.first_name, user.language_code)
        if self.written.get(user.id) == profile:
            return
        try:
            await asyncio.wait_for(upsert_user(profile), USER_UPSERT_TIMEOUT)
        except Exception as error:  # a stale name is no reason to fail an update
            log.warning("user.upsert_failed", error=repr(error))
            return
        if len(self.written) >= self.size:
            self.written.clear()
        self.written[user.id] = profile
