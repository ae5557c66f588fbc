"""Refunding a charge: through Telegram first, then on the ledger (models.ledger)."""

from __future__ import annotations

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from bot.own_stars import read_own_balance
from bot.texts import text
from models.ledger.refunds import RefundResult, record_refund, refundable
from models.refusals import Refusal, Refused

log = structlog.get_logger("bot.refunds")


async def refund_charge(bot: Bot, charge_id: str, *, force: bool) -> RefundResult:
    """Refund a charge through Telegram and record it; raises Refused when it may not
    be refunded (`models.ledger.refunds.refundable`), when the bot's own Stars cannot
    cover it, or when Telegram refused it or never answered.

    Shared by the /refund command and the command-line tool, so it lives here and not
    in either of them.
    """
    topup = await refundable(charge_id, force=force)
    user_id, amount = topup.user_id, topup.amount
    # Refunds are paid out of the bot's own Stars, and force cannot change that. When
    # the balance cannot be read, try anyway: Telegram refuses a refund it cannot
    # cover, and that answer reaches the admin just the same. (A charge refunded
    # elsewhere whose service message was lost may be refused here too; reconciliation
    # finds that refund in Telegram's ledger and records it.)
    own = await read_own_balance(bot)
    if own is not None and own < amount:
        log.warning("refund.bot_balance_low", charge_id=charge_id, bot_balance=own)
        raise Refused(
            Refusal.BOT_STARS_TOO_LOW,
            charge_id=charge_id,
            user_id=user_id,
            amount=amount,
            bot_balance=own,
        )
    try:
        await bot.refund_star_payment(user_id, charge_id)
    except TelegramBadRequest as error:
        # Already refunded (elsewhere, or our earlier try whose answer was lost): done.
        if "CHARGE_ALREADY_REFUNDED" not in error.message:
            log.warning("refund.refused", charge_id=charge_id, error=error.message)
            raise Refused(
                Refusal.TELEGRAM_REFUSED,
                charge_id=charge_id,
                user_id=user_id,
                amount=amount,
                error=error.message,
            ) from None
    except Exception as error:
        log.error("refund.outcome_unknown", charge_id=charge_id, error=repr(error))
        raise Refused(
            Refusal.OUTCOME_UNKNOWN,
            charge_id=charge_id,
            user_id=user_id,
            amount=amount,
            error=type(error).__name__,
        ) from None
    result = await record_refund(charge_id, source="command")
    # ALREADY_RECORDED means the refunded_payment message got here first: same outcome.
    log.info("refund.done", charge_id=charge_id, outcome=result.status.value, forced=force)
    return result


def refunded_text(lang: str | None, charge_id: str, result: RefundResult) -> str:
    """What the administrator is told of a refund that went through."""
    return text(
        lang,
        "refund_recorded",
        charge_id=charge_id,
        user_id=result.user_id,
        amount=result.amount,
        balance=result.balance,
    )
