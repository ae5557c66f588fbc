"""The notices outbox reports its backlog for the alert rules: how many messages are
not sent yet and how long the oldest has waited (alerts.yml, StarsNotices*)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiogram import Bot
from prometheus_client import REGISTRY

from bot.notifier import Notifier
from models.infra import metrics
from models.infra.telegram import make_bot
from models.tables import Notice, User
from models.values import utcnow
from tests.emulator import BotApiEmulator
from tests.helpers import ALICE, BORIS, TOKEN, cid, make_settings


@pytest.fixture
async def bot(emulator: BotApiEmulator) -> AsyncIterator[Bot]:
    running = make_bot(make_settings(telegram_api_url=emulator.url))
    yield running
    await running.session.close()


def backlog() -> tuple[float, float]:
    pending = REGISTRY.get_sample_value("stars_notices_pending")
    oldest = REGISTRY.get_sample_value("stars_notices_oldest_pending_seconds")
    assert pending is not None
    assert oldest is not None
    return pending, oldest


async def notice(
    user_id: int, tag: str, *, age: timedelta, due_in: timedelta, sent: bool = False
) -> None:
    now = utcnow()
    await Notice.create(
        user_id=user_id,
        kind="credited",
        telegram_payment_charge_id=cid(tag),
        amount=100,
        balance=100,
        next_attempt_at=now + due_in,
        sent_at=now - age if sent else None,
        created_at=now - age,
    )


async def test_the_backlog_counts_unsent_notices_and_ages_the_oldest(
    db: str, bot: Bot, emulator: BotApiEmulator
) -> None:
    notifier = Notifier(bot, per_chat_interval=0)
    await notifier.measure_backlog()
    assert backlog() == (0, 0)

    for user in (ALICE, BORIS):
        await User.create(id=user["id"], first_name=user["first_name"])
    # Sent long ago: not owed. Waiting 10 minutes for its retry: owed, the oldest.
    await notice(ALICE["id"], "sent", age=timedelta(days=3), due_in=-timedelta(days=3), sent=True)
    await notice(ALICE["id"], "retrying", age=timedelta(minutes=10), due_in=timedelta(minutes=5))
    await notice(BORIS["id"], "due", age=timedelta(seconds=5), due_in=-timedelta(seconds=5))
    await notifier.measure_backlog()
    pending, oldest = backlog()
    assert pending == 2
    assert 600 <= oldest < 630

    assert await notifier.deliver_due()  # Boris's, the one due
    await emulator.wait_for_message(TOKEN, BORIS["id"])
    await notifier.measure_backlog()
    pending, oldest = backlog()
    assert pending == 1
    assert 600 <= oldest < 630


async def test_a_running_sender_reports_and_a_stopped_one_reports_nothing_owed(
    db: str, bot: Bot
) -> None:
    await User.create(id=ALICE["id"], first_name=ALICE["first_name"])
    await notice(ALICE["id"], "waiting", age=timedelta(minutes=2), due_in=timedelta(hours=1))
    metrics.NOTICES_PENDING.set(-1)  # not measured yet
    notifier = Notifier(bot)
    running = asyncio.create_task(notifier.run(idle=0.05))
    try:
        for _ in range(100):
            if backlog()[0] != -1:
                break
            await asyncio.sleep(0.02)
        pending, oldest = backlog()
        assert pending == 1
        assert 120 <= oldest < 150
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    # Another process sends now; the alert rules take the max over processes.
    assert backlog() == (0, 0)
