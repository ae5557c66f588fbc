"""Pre-checkout answers, crediting successful payments, recording refunds."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import structlog
from aiogram import Bot, Router
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.types import Message, PreCheckoutQuery

from bot.notifier import Notifier
from bot.refusals import refusal_text
from bot.retry import retry_database
from bot.texts import text
from models.infra import metrics
from models.infra.jobs import deployment_time
from models.ledger.credits import CreditStatus, credit_charge
from models.ledger.refunds import record_refund
from models.orders.opening import mark_checkout
from models.orders.terms import check_checkout, is_our_order
from models.queries.charges import find_topup
from models.reconciliation.deployment import paid_before_deployment
from models.refusals import Refused
from models.values import Charge, parse_order_id

log = structlog.get_logger("bot.payments")

# Telegram cancels the purchase if no answer arrives within 10 s of sending the query.
# The database gets a few seconds; the rest is for the answer itself and its retries.
CHECK_BUDGET = 4.0
ANSWER_BY = 8.5


def create_router() -> Router:
    router = Router(name=__name__)
    router.pre_checkout_query.register(on_pre_checkout)
    router.message.register(on_successful_payment, is_successful_payment)
    router.message.register(on_refunded_payment, is_refunded_payment)
    return router


# Async on purpose: aiogram runs synchronous filters (magic F filters included) in a
# thread, one hop per check, which costs more than the check under a payment burst.
async def is_successful_payment(message: Message) -> bool:
    return message.successful_payment is not None


async def is_refunded_payment(message: Message) -> bool:
    return message.refunded_payment is not None


async def on_pre_checkout(query: PreCheckoutQuery, bot: Bot) -> None:
    started = time.monotonic()
    check = asyncio.create_task(
        check_checkout(
            query.invoice_payload, query.from_user.id, query.currency, query.total_amount
        )
    )
    # Not wait_for: it waits for the cancelled check to unwind, and a query stuck on a
    # dead connection may not unwind in time. The answer must leave on time regardless.
    done, _ = await asyncio.wait({check}, timeout=CHECK_BUDGET)
    refused: Refused | None = None
    failure: str | None = None  # why there is no verdict
    if not done:
        check.cancel()
        failure = "timeout"
    elif isinstance(outcome := check.exception(), Refused):
        refused = outcome
    elif outcome is not None:  # a failing database must still get an answer out
        failure = repr(outcome)
    if failure is not None:
        log.error("precheckout.check_failed", error=failure, order_id=query.invoice_payload)
    ok = failure is None and refused is None
    lang = query.from_user.language_code
    message = None
    if refused is not None:
        message = refusal_text(lang, refused)
    elif failure is not None:
        message = text(lang, "checkout_try_again")
    # Noted while the answer travels to Telegram: by the time the buyer's payment
    # goes through, Buy again already opens a new order.
    note = asyncio.create_task(_note_checkout(query.invoice_payload)) if ok else None
    answered = await _answer_in_time(bot, query.id, ok, message, started)
    if note is not None:
        await note
    reason = refused.code.value if refused else "check_failed" if failure else "ok"
    metrics.PRECHECKOUTS.labels("approved" if ok else "rejected", reason).inc()
    if answered:
        metrics.PRECHECKOUT_SECONDS.observe(time.monotonic() - started)
    log.info(
        "precheckout.answered",
        ok=ok,
        verdict=reason,
        order_id=query.invoice_payload,
        amount=query.total_amount,
        delivered=answered,
        seconds=round(time.monotonic() - started, 3),
    )


async def _note_checkout(payload: str) -> None:
    """After the answer, off its clock: the order is being paid, so Buy again must not
    give it back. Best effort: without the note a second press could get the same
    link, and a second payment of it is still credited."""
    order_id = parse_order_id(payload)
    if order_id is None:
        return
    try:
        async with asyncio.timeout(CHECK_BUDGET):
            await mark_checkout(order_id)
    except Exception as error:
        log.warning("precheckout.note_failed", error=repr(error))


async def _answer_in_time(
    bot: Bot, query_id: str, ok: bool, message: str | None, started: float
) -> bool:
    while (remaining := ANSWER_BY - (time.monotonic() - started)) > 0.2:
        try:
            await bot.answer_pre_checkout_query(
                query_id, ok=ok, error_message=message, request_timeout=max(1, int(remaining))
            )
            return True
        except TelegramRetryAfter as error:
            await asyncio.sleep(min(error.retry_after, remaining))
        except TelegramBadRequest as error:  # too late or unknown: retrying cannot help
            log.error("precheckout.answer_refused", error=error.message)
            return False
        except Exception as error:
            log.warning("precheckout.answer_retry", error=repr(error))
            await asyncio.sleep(min(0.3, remaining))
    log.error("precheckout.answer_missed_deadline")
    return False


async def _before_deployment(paid_at: datetime, payload: str) -> bool:
    """A payment from before this service's deployment that is not for one of our
    orders: history of an earlier implementation on the same token. Like
    reconciliation, the live handler leaves it to the operator (`run_bot.py backfill`)."""
    ours = await is_our_order(payload)
    return paid_before_deployment(paid_at, await deployment_time(), ours=ours)


async def on_successful_payment(
    message: Message, notifier: Notifier, started_at: datetime
) -> None:
    payment = message.successful_payment
    assert payment is not None
    # Only an update that waited at Telegram from before this process started can be
    # older than the deployment: the check costs nothing for the rest.
    if message.date < started_at and await _before_deployment(
        message.date, payment.invoice_payload
    ):
        metrics.RECONCILE_BEFORE_DEPLOYMENT.labels("payment").inc()
        log.warning(
            "payment.before_deployment_not_credited",
            charge_id=payment.telegram_payment_charge_id,
            amount=payment.total_amount,
            hint="run_bot.py backfill credits payments from before deployment",
        )
        return
    payer_id = message.from_user.id if message.from_user else message.chat.id
    charge = Charge(
        charge_id=payment.telegram_payment_charge_id,
        payer_id=payer_id,
        amount=payment.total_amount,
        payload=payment.invoice_payload,
        currency=payment.currency,
    )
    with structlog.contextvars.bound_contextvars(
        charge_id=charge.charge_id, order_id=charge.payload
    ):
        result = await retry_database(
            lambda: credit_charge(charge, paid_at=message.date), what="payment.credit"
        )
        if result is None:
            log.error("payment.credit_deferred_to_reconciliation", amount=charge.amount)
            return
        if result.status is CreditStatus.ALREADY_CREDITED:
            log.info("payment.duplicate_ignored", amount=charge.amount)
            return
        log.info("payment.credited", amount=charge.amount, balance=result.balance)
        if result.anomaly is not None:
            log.warning("payment.anomaly", anomaly=result.anomaly.value, amount=charge.amount)
        notifier.wake()


async def on_refunded_payment(message: Message, notifier: Notifier) -> None:
    refund = message.refunded_payment
    assert refund is not None
    with structlog.contextvars.bound_contextvars(charge_id=refund.telegram_payment_charge_id):
        # A refund of a charge the ledger never saw, for a payload that is not ours, may
        # be of a payment from before deployment: only reconciliation knows when that
        # payment was made, and records the pair if it was since.
        if await find_topup(refund.telegram_payment_charge_id) is None and not (
            await is_our_order(refund.invoice_payload)
        ):
            log.warning("refund.unknown_charge_left_to_reconciliation")
            return
        result = await retry_database(
            lambda: record_refund(
                refund.telegram_payment_charge_id,
                user_id=message.chat.id,
                amount=refund.total_amount,
                payload=refund.invoice_payload,
                currency=refund.currency,
                refunded_at=message.date,
            ),
            what="refund.record",
        )
        if result is None:
            log.error("refund.record_deferred_to_reconciliation")
            return
        log.info("refund.reported", outcome=result.status.value, amount=result.amount)
        notifier.wake()
