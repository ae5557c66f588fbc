"""/start, /balance, /paysupport, /privacy, /terms."""

from __future__ import annotations

import structlog
from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, WebAppInfo

from bot.texts import text
from models.money import get_balance
from models.settings import Settings
from models.tables import EntryKind, LedgerEntry

log = structlog.get_logger("bot.commands")
RECENT_PAYMENTS = 5


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_start, CommandStart())
    router.message.register(on_balance, Command("balance"))
    router.message.register(on_paysupport, Command("paysupport"))
    router.message.register(on_privacy, Command("privacy"))
    router.message.register(on_terms, Command("terms"))
    return router


def _lang(message: Message) -> str | None:
    return message.from_user.language_code if message.from_user else None


async def on_start(message: Message, settings: Settings) -> None:
    lang = _lang(message)
    markup = None
    if settings.webapp_url:
        markup = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=text(lang, "open_app"), web_app=WebAppInfo(url=settings.webapp_url)
                    )
                ]
            ]
        )
    await message.answer(text(lang, "start"), reply_markup=markup)


async def on_balance(message: Message) -> None:
    balance = await get_balance(message.chat.id)
    await message.answer(text(_lang(message), "balance", balance=balance))


async def recent_payments(user_id: int, lang: str | None) -> str:
    entries = (
        await LedgerEntry.filter(user_id=user_id, kind__in=[EntryKind.TOPUP, EntryKind.REFUND])
        .order_by("-created_at", "-id")
        .limit(RECENT_PAYMENTS * 2)
    )
    refunded = {e.telegram_payment_charge_id for e in entries if e.kind == EntryKind.REFUND}
    lines = [
        text(
            lang,
            "paysupport_line",
            date=entry.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            amount=entry.amount,
            status=text(
                lang,
                "status_refunded"
                if entry.telegram_payment_charge_id in refunded
                else "status_credited",
            ),
            charge=entry.telegram_payment_charge_id,
        )
        for entry in entries
        if entry.kind == EntryKind.TOPUP
    ][:RECENT_PAYMENTS]
    return "\n".join(lines) if lines else text(lang, "paysupport_none")


async def on_paysupport(
    message: Message, command: CommandObject, bot: Bot, settings: Settings
) -> None:
    lang = _lang(message)
    payments = await recent_payments(message.chat.id, lang)
    contact = f" ({settings.support_contact})" if settings.support_contact else ""
    await message.answer(text(lang, "paysupport", payments=payments, contact=contact))
    name = message.from_user.full_name if message.from_user else str(message.chat.id)
    log.info("paysupport.requested", admins=len(settings.admin_ids))
    for admin_id in settings.admin_ids:
        try:
            await bot.send_message(
                admin_id,
                text(
                    None,
                    "paysupport_forward",
                    name=name,
                    user_id=message.chat.id,
                    text=command.args or "-",
                    payments=await recent_payments(message.chat.id, None),
                ),
            )
        except Exception as error:  # one unreachable admin must not hide the request
            log.warning("paysupport.forward_failed", admin_id=admin_id, error=repr(error))


async def on_privacy(message: Message, settings: Settings) -> None:
    await message.answer(settings.privacy_text or text(_lang(message), "privacy"))


async def on_terms(message: Message, settings: Settings) -> None:
    await message.answer(settings.terms_text or text(_lang(message), "terms"))
