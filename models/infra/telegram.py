"""How both processes reach the Bot API: Telegram itself, its test environment, or
another Bot API server (a local one, or the emulator in tests)."""

from __future__ import annotations

import functools
from typing import Any

import aiogram.methods
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods.base import Response, TelegramMethod

from models.infra.bot_api import url_templates
from models.infra.settings import Settings


def api_server(settings: Settings) -> TelegramAPIServer:
    # Not from_base(): it cannot express the /test/ suffix of the test environment.
    method, file = url_templates(settings)
    return TelegramAPIServer(base=method, file=file)


@functools.cache
def _pin_response_types() -> tuple[Any, ...]:
    """Hold aiogram's `Response[T]` classes for the life of the process.

    aiogram builds `Response[method.__returning__]` for every answer it parses, and
    pydantic keeps such generic classes only in a weak cache: after each full garbage
    collection the next call rebuilt its class (about 1 ms, several times a second
    under load).
    """
    returning = {
        repr(cls.__returning__): cls.__returning__
        for cls in vars(aiogram.methods).values()
        if isinstance(cls, type) and issubclass(cls, TelegramMethod) and cls is not TelegramMethod
    }
    # A type built from a value at run time, which a checker cannot follow.
    return tuple(Response[kind] for kind in returning.values())  # type: ignore[valid-type]


def make_bot(settings: Settings, *, timeout: float = 10.0) -> Bot:
    """One Bot with one HTTP session for the life of the process.

    `timeout` bounds every call (getUpdates adds its polling timeout to it), so a Bot
    API that stops answering fails a request instead of hanging it. At most
    TELEGRAM_CONNECTIONS calls are on the wire at once; more wait for a connection.
    """
    _pin_response_types()
    session = AiohttpSession(
        api=api_server(settings), timeout=timeout, limit=settings.telegram_connections
    )
    return Bot(settings.token, session=session)
