"""/start, /balance, /paysupport, /privacy, /terms; payment commands only in private chats."""

from __future__ import annotations

import asyncio
import math

import structlog
from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, WebAppInfo

from bot.texts import text
from bot.throttle import Throttle
from models.infra.settings import Settings
from models.kinds import EntryKind
from models.queries.accounts import get_balance
from models.queries.charges import recent_topups_and_refunds

log = structlog.get_logger("bot.commands")
RECENT_PAYMENTS = 5
MESSAGE_LIMIT = 4096  # Telegram's, in UTF-16 code units
# Commands that show or touch someone's payments: never answered in a group.
PRIVATE_COMMANDS = ("balance", "paysupport", "refund")
# Seconds of flood waits a forward to one admin sits out: Telegram's reach up to a
# minute, and the user is waiting for the answer meanwhile.
FORWARD_WAIT = 60


def create_router() -> Router:
    router = Router(name=__name__)
    # First: in a group these get a pointer to the private chat and nothing else. The
    # refunds router comes earlier, so /refund there only takes private chats.
    router.message.register(on_private_only, Command(*PRIVATE_COMMANDS), outside_private_chat)
    router.message.register(on_start, CommandStart())
    router.message.register(on_balance, Command("balance"))
    router.message.register(on_paysupport, Command("paysupport"))
    router.message.register(on_privacy, Command("privacy"))
    router.message.register(on_terms, Command("terms"))
    return router


async def in_private_chat(message: Message) -> bool:
    return message.chat.type == ChatType.PRIVATE


async def outside_private_chat(message: Message) -> bool:
    return message.chat.type != ChatType.PRIVATE


def _lang(message: Message) -> str | None:
    return message.from_user.language_code if message.from_user else None


def _sender(message: Message) -> int:
    """Who wrote: the chat is only the same person in a private chat."""
    return message.from_user.id if message.from_user else message.chat.id


def _button(button: InlineKeyboardButton) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


async def private_chat_button(bot: Bot, lang: str | None) -> InlineKeyboardMarkup | None:
    me = await bot.me()  # asked at start-up, cached by aiogram
    if not me.username:
        return None
    return _button(
        InlineKeyboardButton(text=text(lang, "open_private"), url=f"https://t.me/{me.username}")
    )


async def on_private_only(message: Message, command: CommandObject, bot: Bot) -> None:
    lang = _lang(message)
    await message.answer(
        text(lang, "private_only", command=f"/{command.command}"),
        reply_markup=await private_chat_button(bot, lang),
    )


async def on_start(message: Message, bot: Bot, settings: Settings) -> None:
    lang = _lang(message)
    markup = None
    if not await in_private_chat(message):
        # Telegram refuses web_app buttons outside private chats.
        markup = await private_chat_button(bot, lang)
    elif settings.webapp_url:
        markup = _button(
            InlineKeyboardButton(
                text=text(lang, "open_app"), web_app=WebAppInfo(url=settings.webapp_url)
            )
        )
    await message.answer(text(lang, "start"), reply_markup=markup)


async def on_balance(message: Message) -> None:
    balance = await get_balance(_sender(message))
    await message.answer(text(_lang(message), "balance", balance=balance))


async def recent_payments(user_id: int, lang: str | None) -> str:
    entries = await recent_topups_and_refunds(user_id, RECENT_PAYMENTS * 2)
    refunded = {e.charge_id for e in entries if e.kind == EntryKind.REFUND}
    lines = [
        text(
            lang,
            "paysupport_line",
            date=entry.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            amount=entry.amount,
            status=text(
                lang,
                "status_refunded" if entry.charge_id in refunded else "status_credited",
            ),
            charge=entry.charge_id,
        )
        for entry in entries
        if entry.kind == EntryKind.TOPUP
    ][:RECENT_PAYMENTS]
    return "\n".join(lines) if lines else text(lang, "paysupport_none")


def _units(value: str) -> int:
    return len(value.encode("utf-16-le")) // 2


def clip(value: str, units: int) -> str:
    """`value` cut to `units` UTF-16 code units, never through a surrogate pair."""
    return value.encode("utf-16-le")[: max(units, 0) * 2].decode("utf-16-le", "ignore")


def support_request(name: str, user_id: int, request: str, payments: str) -> str:
    """The admins' copy of a request, its text cut so the whole fits one message."""

    def compose(request: str) -> str:
        return text(
            None, "paysupport_forward", name=name, user_id=user_id, text=request, payments=payments
        )

    whole = compose(request)
    if _units(whole) <= MESSAGE_LIMIT:
        return whole
    cut = text(None, "paysupport_cut")
    room = MESSAGE_LIMIT - _units(compose("")) - _units(cut)
    return clip(compose(clip(request, room) + cut), MESSAGE_LIMIT)


async def on_paysupport(
    message: Message,
    command: CommandObject,
    bot: Bot,
    settings: Settings,
    support_throttle: Throttle,
) -> None:
    lang = _lang(message)
    user_id = _sender(message)
    payments = await recent_payments(user_id, lang)
    outcome = await pass_on(message, command.args or "-", bot, settings, support_throttle)
    await message.answer(text(lang, "paysupport", payments=payments, outcome=outcome))


async def pass_on(
    message: Message, request: str, bot: Bot, settings: Settings, throttle: Throttle
) -> str:
    """Forward a support request to the admins; returns what to tell the user."""
    lang = _lang(message)
    user_id = _sender(message)
    not_passed = (
        text(lang, "paysupport_not_passed_contact", contact=settings.support_contact)
        if settings.support_contact
        else text(lang, "paysupport_not_passed")
    )
    if not settings.admin_ids:
        log.error(
            "paysupport.no_admins",
            hint="set ADMIN_IDS: Telegram requires that /paysupport requests are handled",
        )
        return not_passed
    wait = throttle.take(user_id)
    if wait:
        log.info("paysupport.throttled", seconds_left=round(wait))
        return text(lang, "paysupport_throttled", minutes=math.ceil(wait / 60))
    name = message.from_user.full_name if message.from_user else str(user_id)
    forward = support_request(name, user_id, request, await recent_payments(user_id, None))
    # At once to every admin: one admin's flood wait holds up none of the others.
    reached = await asyncio.gather(*(forward_to(bot, a, forward) for a in settings.admin_ids))
    delivered = sum(reached)
    if not delivered:
        throttle.give_back(user_id)  # nothing reached anyone: the user may try again
        log.error("paysupport.not_delivered", admins=len(settings.admin_ids))
        return not_passed
    log.info("paysupport.forwarded", admins=delivered, of=len(settings.admin_ids))
    contact = f" ({settings.support_contact})" if settings.support_contact else ""
    return text(lang, "paysupport_passed", contact=contact)


async def forward_to(bot: Bot, admin_id: int, forward: str) -> bool:
    """Send an admin the request, sitting out Telegram's flood waits (429) up to
    FORWARD_WAIT in all; False if it did not get there."""
    waited = 0
    while True:
        try:
            await bot.send_message(admin_id, forward)
            return True
        except TelegramRetryAfter as error:
            if waited + error.retry_after > FORWARD_WAIT:
                log.warning(
                    "paysupport.forward_failed", admin_id=admin_id, retry_after=error.retry_after
                )
                return False
            log.info("paysupport.flood_wait", admin_id=admin_id, retry_after=error.retry_after)
            await asyncio.sleep(error.retry_after)
            waited += error.retry_after
        except Exception as error:  # one unreachable admin must not hide the request
            log.warning("paysupport.forward_failed", admin_id=admin_id, error=repr(error))
            return False


async def on_privacy(message: Message, settings: Settings) -> None:
    await message.answer(settings.privacy_text or text(_lang(message), "privacy"))


async def on_terms(message: Message, settings: Settings) -> None:
    await message.answer(settings.terms_text or text(_lang(message), "terms"))
