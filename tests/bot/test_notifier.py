"""The notices outbox reports its backlog for the alert rules: how many messages are
not sent yet and how long the oldest has waited (alerts.yml, StarsNotices*)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import structlog
from aiogram import Bot
from prometheus_client import REGISTRY

from bot.notifier import Notifier
from models.infra import metrics
from models.infra.telegram import make_bot
from models.tables import Notice, User
from models.values import utcnow
from tests.emulator import BotApiEmulator, ChatFault
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


async def owe(user: dict[str, Any], tag: str) -> int:
    await User.get_or_create(
        id=user["id"], defaults={"first_name": user["first_name"], "language_code": "en"}
    )
    now = utcnow()
    created = await Notice.create(
        user_id=user["id"],
        kind="credited",
        telegram_payment_charge_id=cid(tag),
        amount=100,
        balance=100,
        next_attempt_at=now,
        created_at=now,
    )
    return int(created.id)


def outcome(name: str) -> float:
    return REGISTRY.get_sample_value("stars_notices_total", {"outcome": name}) or 0.0


BLOCKED: dict[str, Any] = {"id": 2101, "first_name": "Blocked"}
GONE: dict[str, Any] = {"id": 2102, "first_name": "Gone"}
FLOODED: dict[str, Any] = {"id": 2103, "first_name": "Flooded"}
WAITING: dict[str, Any] = {"id": 2104, "first_name": "Waiting"}


async def test_undeliverable_messages_are_given_up_and_a_flood_holds_only_its_chat(
    db: str, bot: Bot, emulator: BotApiEmulator
) -> None:
    """403 (the user blocked the bot) and 400 (a chat the bot cannot see) never succeed:
    given up at once. A 429 is retried after its retry_after, and meanwhile the other
    users' messages go: before, the sender slept through the wait with all of them."""
    emulator.set_chat_fault(TOKEN, BLOCKED["id"], ChatFault("blocked"))
    emulator.set_chat_fault(TOKEN, GONE["id"], ChatFault("not_found"))
    emulator.set_chat_fault(TOKEN, FLOODED["id"], ChatFault("flood", retry_after=3))
    ids = {user["id"]: await owe(user, str(user["id"])) for user in (BLOCKED, GONE, FLOODED)}
    ids[WAITING["id"]] = await owe(WAITING, "waiting")
    before = {name: outcome(name) for name in ("blocked", "undeliverable", "flood_wait", "sent")}
    notifier = Notifier(bot, per_chat_interval=0)
    with structlog.testing.capture_logs() as logs:
        running = asyncio.create_task(notifier.run(idle=0.05))
        try:
            await emulator.wait_for_message(TOKEN, WAITING["id"])
            flood = emulator.bot(TOKEN).chat_faults[FLOODED["id"]]
            assert flood.until is not None
            assert time.monotonic() < flood.until  # sent while the flooded chat still waits
            await emulator.wait_for_message(TOKEN, FLOODED["id"])
            deadline = time.monotonic() + 10
            while outcome("sent") < before["sent"] + 2:  # recorded after Telegram answered
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
        finally:
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
    # Asked once, and once more after the wait: never in between.
    calls = emulator.bot(TOKEN).calls_of("sendMessage")
    assert [int(c["chat_id"]) for c in calls].count(FLOODED["id"]) == 2
    assert [int(c["chat_id"]) for c in calls].count(BLOCKED["id"]) == 1
    assert [int(c["chat_id"]) for c in calls].count(GONE["id"]) == 1
    unsent = await Notice.filter(sent_at=None).count()
    assert unsent == 0  # each one sent or given up
    assert outcome("blocked") == before["blocked"] + 1
    assert outcome("undeliverable") == before["undeliverable"] + 1
    assert outcome("flood_wait") == before["flood_wait"] + 1
    assert outcome("sent") == before["sent"] + 2
    given_up = {e["notice_id"]: e for e in logs if e["event"] == "notice.given_up"}
    assert given_up.keys() == {ids[BLOCKED["id"]], ids[GONE["id"]]}
    assert given_up[ids[GONE["id"]]]["error"] == "Bad Request: chat not found"
    assert "Payment received" not in str(logs)  # never the message itself
    # A given-up notice was not retried later either.
    assert await Notice.filter(attempts__gt=1).count() == 0
