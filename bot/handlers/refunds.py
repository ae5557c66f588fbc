"""/refund <charge_id> [force]: an administrator returns a payment's Stars."""

from __future__ import annotations

import structlog
from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.handlers.commands import in_private_chat
from bot.refunding import refund_charge, refunded_text
from bot.refusals import refusal_text
from bot.texts import text
from models.infra.settings import Settings
from models.refusals import Refused

log = structlog.get_logger("bot.refunds")


def create_router() -> Router:
    router = Router(name=__name__)
    # In a group, /refund falls through to the commands router's pointer to the private
    # chat: its answers name users and their balances.
    router.message.register(on_refund, Command("refund"), in_private_chat)
    return router


async def on_refund(
    message: Message, command: CommandObject, bot: Bot, settings: Settings
) -> None:
    lang = message.from_user.language_code if message.from_user else None
    user_id = message.from_user.id if message.from_user else 0
    if user_id not in settings.admin_ids:
        log.warning("refund.not_admin", from_user=user_id)
        await message.answer(text(lang, "refund_not_admin"))
        return
    args = (command.args or "").split()
    if not args or any(arg != "force" for arg in args[1:]):
        await message.answer(text(lang, "refund_usage"))
        return
    try:
        result = await refund_charge(bot, args[0], force="force" in args[1:])
    except Refused as refused:
        await message.answer(refusal_text(lang, refused))
        return
    await message.answer(refunded_text(lang, args[0], result))
