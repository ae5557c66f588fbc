"""Recording that Telegram gave a charge's Stars back, once per charge, and whether an
operator may refund one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from models.infra import metrics
from models.infra.sql import execute
from models.kinds import Anomaly, EntryKind, OrderStatus
from models.ledger.credits import credit_charge
from models.ledger.entries import post
from models.notices import NoticeKind, enqueue_notice
from models.queries.accounts import get_balance
from models.queries.charges import Topup, find_topup, is_refunded
from models.refusals import Refusal, Refused
from models.values import XTR, Charge, utcnow


class RefundStatus(StrEnum):
    RECORDED = "recorded"
    ALREADY_RECORDED = "already_recorded"


@dataclass(frozen=True, slots=True)
class RefundResult:
    status: RefundStatus
    user_id: int
    amount: int
    balance: int


async def refundable(charge_id: str, *, force: bool = False) -> Topup:
    """The top-up an operator may refund, or Refused: a charge not on the ledger
    (UNKNOWN_CHARGE), refunded before (ALREADY_REFUNDED), or more than the user's
    balance now (BALANCE_TOO_LOW) unless `force`: the refund would take them below
    zero, so they would have spent Stars Telegram gives back."""
    topup = await find_topup(charge_id)
    if topup is None:
        raise Refused(Refusal.UNKNOWN_CHARGE, charge_id=charge_id)
    user_id, amount = topup.user_id, topup.amount
    if await is_refunded(charge_id):
        raise Refused(
            Refusal.ALREADY_REFUNDED, charge_id=charge_id, user_id=user_id, amount=amount
        )
    balance = await get_balance(user_id)
    if balance < amount and not force:
        raise Refused(
            Refusal.BALANCE_TOO_LOW,
            charge_id=charge_id,
            user_id=user_id,
            amount=amount,
            balance=balance,
        )
    return topup


async def record_refund(
    charge_id: str,
    *,
    user_id: int | None = None,
    amount: int | None = None,
    payload: str = "",
    currency: str = XTR,
    refunded_at: datetime | None = None,
    source: str = "update",
) -> RefundResult:
    """Record that Telegram returned a charge's Stars to its payer, once per charge.

    Reports of a refund come from the admin command, the refunded_payment message and
    reconciliation, in any order. A refund of a charge the ledger never saw (its
    payment update was lost) first records the payment, so the pair nets to zero;
    without `user_id` and `amount` to record it with, it is Refused (UNKNOWN_CHARGE).
    """
    refunded_at = refunded_at or utcnow()
    topup = await find_topup(charge_id)
    if topup is None:
        if user_id is None or amount is None:
            raise Refused(Refusal.UNKNOWN_CHARGE, charge_id=charge_id)
        await credit_charge(
            Charge(charge_id, user_id, amount, payload, currency),
            notice=None,
            anomaly=Anomaly.REFUND_BEFORE_PAYMENT,
            source=source,
        )
        topup = await find_topup(charge_id)
        assert topup is not None
    try:
        async with in_transaction() as conn:
            order_id = topup.order_id
            balance = await post(
                conn,
                topup.user_id,
                -topup.amount,
                EntryKind.REFUND,
                source=source,
                order_id=order_id,
                charge_id=charge_id,
            )
            if order_id is not None:
                await _mark_refunded(conn, topup, order_id, refunded_at)
            if topup.amount:  # a charge in another currency was never Stars here
                await enqueue_notice(
                    conn, topup.user_id, NoticeKind.REFUNDED, charge_id, topup.amount, balance
                )
    except IntegrityError:
        return RefundResult(
            RefundStatus.ALREADY_RECORDED,
            topup.user_id,
            topup.amount,
            await get_balance(topup.user_id),
        )
    metrics.REFUNDS.labels(source).inc()
    return RefundResult(RefundStatus.RECORDED, topup.user_id, topup.amount, balance)


async def _mark_refunded(
    conn: BaseDBAsyncClient, topup: Topup, order_id: uuid.UUID, refunded_at: datetime
) -> None:
    """Mark the order this charge paid as refunded.

    A refund that arrived before its payment (the payment update was lost) finds the
    order still unpaid: if the charge was its payer's, for its amount, the order
    takes the charge too, or it would stay payable and could be paid again. Any other
    charge that did not pay the order (a wrong amount, another currency) leaves it be.
    """
    charge_id = topup.charge_id
    if topup.anomaly is not Anomaly.REFUND_BEFORE_PAYMENT:
        await execute(
            conn,
            "UPDATE topup_orders SET status = $1, refunded_at = $2 "
            "WHERE id = $3 AND telegram_payment_charge_id = $4",
            OrderStatus.REFUNDED.value,
            refunded_at,
            order_id,
            charge_id,
        )
        return
    await execute(
        conn,
        "UPDATE topup_orders SET status = $1, refunded_at = $2, telegram_payment_charge_id = $3 "
        "WHERE id = $4 AND user_id = $5 AND amount = $6 AND telegram_payment_charge_id IS NULL "
        "AND status IN ('pending', 'expired', 'failed')",
        OrderStatus.REFUNDED.value,
        refunded_at,
        charge_id,
        order_id,
        topup.user_id,
        topup.amount,
    )
