"""Typed keys for what the application holds (aiohttp warns on string keys)."""

from __future__ import annotations

from aiogram import Bot
from aiohttp import web

from models.settings import Settings

settings_key = web.AppKey("settings", Settings)
bot_key = web.AppKey("bot", Bot)
