"""/refund <charge_id> [force]: an administrator returns a payment's Stars."""

from __future__ import annotations

import structlog
from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.handlers.commands import in_private_chat
from bot.own_stars import read_own_balance
from bot.texts import text
from models.money import find_topup, get_balance, record_refund
from models.settings import Settings
from models.tables import EntryKind, LedgerEntry

log = structlog.get_logger("bot.refunds")


def create_router() -> Router:
    router = Router(name=__name__)
    # In a group, /refund falls through to the commands router's pointer to the private
    # chat: its answers name users and their balances.
    router.message.register(on_refund, Command("refund"), in_private_chat)
    return router


async def refund_charge(bot: Bot, charge_id: str, *, force: bool) -> tuple[str, dict[str, object]]:
    """Refund a charge through Telegram and record it; returns a text key and its values.

    Shared by the /refund command and the command-line tool.
    """
    values: dict[str, object] = {"charge": charge_id}
    topup = await find_topup(charge_id)
    if topup is None:
        return "refund_unknown", values
    values.update(user_id=topup.user_id, amount=topup.amount)
    if await LedgerEntry.exists(telegram_payment_charge_id=charge_id, kind=EntryKind.REFUND):
        return "refund_done_before", values
    balance = await get_balance(topup.user_id)
    if balance < topup.amount and not force:
        return "refund_low_balance", {**values, "balance": balance}
    # Refunds are paid out of the bot's own Stars, and force cannot change that. When
    # the balance cannot be read, try anyway: Telegram refuses a refund it cannot
    # cover, and that answer reaches the admin just the same. (A charge refunded
    # elsewhere whose service message was lost may be refused here too; reconciliation
    # finds that refund in Telegram's ledger and records it.)
    own = await read_own_balance(bot)
    if own is not None and own < topup.amount:
        log.warning("refund.bot_balance_low", charge_id=charge_id, bot_balance=own)
        return "refund_bot_balance_low", {**values, "bot_balance": own}
    try:
        await bot.refund_star_payment(topup.user_id, charge_id)
    except TelegramBadRequest as error:
        # Already refunded (elsewhere, or our earlier try whose answer was lost): done.
        if "CHARGE_ALREADY_REFUNDED" not in error.message:
            log.warning("refund.refused", charge_id=charge_id, error=error.message)
            return "refund_failed", {**values, "error": error.message}
    except Exception as error:
        log.error("refund.outcome_unknown", charge_id=charge_id, error=repr(error))
        return "refund_unknown_outcome", {**values, "error": type(error).__name__}
    result = await record_refund(charge_id, source="command")
    # ALREADY_RECORDED means the refunded_payment message got here first: same outcome.
    log.info("refund.done", charge_id=charge_id, outcome=result.status.value, forced=force)
    return "refund_recorded", {**values, "balance": result.balance}


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
    key, values = await refund_charge(bot, args[0], force="force" in args[1:])
    await message.answer(text(lang, key, **values))
