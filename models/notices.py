"""The `notices` outbox: messages owed to users, written with the money change that
caused them and sent later by the bot's notifier (bot/notifier.py)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Count, Min

from models.infra.sql import as_datetime, execute
from models.tables import Notice
from models.values import utcnow


class NoticeKind(StrEnum):
    """What a notice tells; each is a text key in bot/texts.py."""

    CREDITED = "credited"
    REFUNDED = "refunded"
    RECOVERED = "recovered"  # credited by reconciliation: its update was lost


@dataclass(frozen=True, slots=True)
class DueNotice:
    id: int
    user_id: int
    language_code: str | None
    kind: NoticeKind
    amount: int
    balance: int
    attempts: int


async def enqueue_notice(
    conn: BaseDBAsyncClient,
    user_id: int,
    kind: NoticeKind,
    charge_id: str,
    amount: int,
    balance: int,
) -> None:
    """Owe the user a message, in the transaction of the change it tells of."""
    now = utcnow()
    await execute(
        conn,
        "INSERT INTO notices (user_id, kind, telegram_payment_charge_id, amount, balance, "
        "attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
        user_id,
        kind.value,
        charge_id,
        amount,
        balance,
        now,
        now,
    )


async def due_notices(batch: int, exclude: Collection[int] = ()) -> list[DueNotice]:
    """The oldest unsent notices whose time has come, but for those to the users in
    `exclude` (chats the sender must wait for: they would fill the batch)."""
    query = Notice.filter(sent_at=None, next_attempt_at__lte=utcnow())
    if exclude:
        query = query.exclude(user_id__in=list(exclude))
    rows = await query.order_by("id").limit(batch).prefetch_related("user")
    return [
        DueNotice(
            row.id,
            row.user.id,
            row.user.language_code,
            NoticeKind(row.kind),
            row.amount,
            row.balance,
            row.attempts,
        )
        for row in rows
    ]


async def backlog() -> tuple[int, datetime | None]:
    """How many notices are not sent yet (due or waiting for a retry), and when the
    oldest of them was written; one aggregate read."""
    rows = (
        await Notice.filter(sent_at=None)
        .annotate(pending=Count("id"), oldest=Min("created_at"))
        .values("pending", "oldest")
    )
    oldest = rows[0]["oldest"]
    return int(rows[0]["pending"]), as_datetime(oldest) if oldest is not None else None


async def mark_sent(notice_id: int) -> None:
    """Done with a notice: sent, or given up on (then `sent_at` is when)."""
    await Notice.filter(id=notice_id).update(sent_at=utcnow())


async def reschedule(
    notice_id: int, attempts: int, next_attempt_at: datetime, *, abandoned: bool = False
) -> None:
    """Try again at `next_attempt_at`; an abandoned notice is marked done as well."""
    await Notice.filter(id=notice_id).update(
        attempts=attempts,
        next_attempt_at=next_attempt_at,
        **({"sent_at": utcnow()} if abandoned else {}),
    )
