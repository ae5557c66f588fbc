"""Refunding a charge: through Telegram first, then on the ledger (models.ledger)."""

from __future__ import annotations

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from bot.own_stars import read_own_balance
from models.ledger.refunds import record_refund
from models.queries.accounts import get_balance
from models.queries.charges import find_topup, is_refunded

log = structlog.get_logger("bot.refunds")


async def refund_charge(bot: Bot, charge_id: str, *, force: bool) -> tuple[str, dict[str, object]]:
    """Refund a charge through Telegram and record it; returns a text key and its values.

    Shared by the /refund command and the command-line tool, so it lives here and not
    in either of them.
    """
    values: dict[str, object] = {"charge": charge_id}
    topup = await find_topup(charge_id)
    if topup is None:
        return "refund_unknown", values
    values.update(user_id=topup.user_id, amount=topup.amount)
    if await is_refunded(charge_id):
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
