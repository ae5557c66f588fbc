"""The daily revenue digest: the leader sends the admins the day's Stars in their
language once a day, never twice for one day whoever leads, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.housekeeping import Housekeeping
from models.digest import due_day
from models.infra.telegram import make_bot
from models.kinds import EntryKind
from models.ledger.adjustments import adjust
from models.ledger.credits import credit_charge
from models.ledger.debits import debit, reverse_debit
from models.ledger.entries import apply_entry
from models.ledger.refunds import record_refund
from models.users import upsert_user
from models.values import Charge, Profile
from tests.emulator import BotApiEmulator
from tests.helpers import ADMIN, ALICE, TOKEN, cid, make_settings
from tests.system import start_system

RU_ADMIN: dict[str, Any] = {"id": 9001, "first_name": "Вера", "language_code": "ru"}
BERLIN = ZoneInfo("Europe/Berlin")


def test_a_days_digest_is_due_from_its_time_on_the_next_local_day() -> None:
    # 07:59 UTC is 08:59 in Berlin in winter: not yet; 08:00 UTC is 09:00 there.
    assert due_day(datetime(2026, 12, 2, 7, 59, tzinfo=UTC), "09:00", BERLIN) is None
    day = due_day(datetime(2026, 12, 2, 8, 0, tzinfo=UTC), "09:00", BERLIN)
    assert day is not None
    assert day.isoformat() == "2026-12-01"
    # Just after midnight UTC it is already the 3rd in Berlin.
    late = due_day(datetime(2026, 12, 2, 23, 30, tzinfo=UTC), "00:15", BERLIN)
    assert late is not None
    assert late.isoformat() == "2026-12-02"


async def test_the_digest_goes_to_each_admin_once_in_their_language(
    db: str, emulator: BotApiEmulator
) -> None:
    await upsert_user(Profile(ALICE["id"], "alice", "Alice", "en"))
    await upsert_user(Profile(RU_ADMIN["id"], None, "Вера", "ru"))
    yesterday = datetime.now(BERLIN) - timedelta(days=1)
    await credit_charge(Charge(cid("a"), ALICE["id"], 250, "x"))
    await credit_charge(Charge(cid("b"), ALICE["id"], 100, "x"))
    await record_refund(cid("b"))
    await apply_entry(ALICE["id"], 40, EntryKind.DEV_CREDIT)
    spent = await debit(ALICE["id"], 30, "gift", "k1")
    await debit(ALICE["id"], 20, "gift", "k2")
    await reverse_debit(spent.debit.id)
    await adjust(ALICE["id"], -5, "fix", "ops")
    # Everything above happened "yesterday" in Berlin, as far as the digest is told.
    now = yesterday.replace(hour=23, minute=59) + timedelta(hours=10)
    from models.tables import LedgerEntry

    await LedgerEntry.all().update(created_at=yesterday.replace(hour=12))
    emulator.set_star_balance(TOKEN, 777)
    settings = make_settings(
        telegram_api_url=emulator.url,
        admin_ids=[ADMIN["id"], RU_ADMIN["id"]],
        digest_at="09:00",
        digest_timezone="Europe/Berlin",
    )
    bots = [make_bot(settings) for _ in range(3)]
    try:
        keepers = [Housekeeping(bot, settings, holder=f"w{i}") for i, bot in enumerate(bots)]
        # Three leaders in turn (restarts, takeovers), two of them at the same moment.
        sent = await asyncio.gather(*(k.send_digest_if_due(now) for k in keepers[:2]))
        sent.append(await keepers[2].send_digest_if_due(now + timedelta(hours=5)))
        assert sorted(sent) == [False, False, True]
    finally:
        for bot in bots:
            await bot.session.close()
    [english] = emulator.messages_to(TOKEN, ADMIN["id"])
    [russian] = emulator.messages_to(TOKEN, RU_ADMIN["id"])
    day = yesterday.date().isoformat()
    assert english["text"].startswith(f"Stars digest for {day} (Europe/Berlin)")
    assert "Received: 350 ⭐ (2 payments)" in english["text"]
    assert "Refunded: 100 ⭐" in english["text"]
    assert "Spent in the app: 20 ⭐" in english["text"]
    assert "Adjusted by hand: -5 ⭐" in english["text"]
    assert "The bot's own Stars now: 777 ⭐" in english["text"]
    assert "all invariants hold" in english["text"]
    assert russian["text"].startswith(f"Сводка по звёздам за {day}")
    assert "Получено: 350 ⭐" in russian["text"]


async def test_the_digest_says_what_check_flags_and_is_off_unless_set(
    db: str, emulator: BotApiEmulator
) -> None:
    from models.tables import User

    await upsert_user(Profile(ALICE["id"], "alice", "Alice", "en"))
    await apply_entry(ALICE["id"], 10, EntryKind.DEV_CREDIT)
    await User.filter(id=ALICE["id"]).update(stars_balance=99)  # a balance changed by hand
    now = datetime.now(UTC).replace(hour=12)
    off = make_settings(telegram_api_url=emulator.url)
    on = make_settings(telegram_api_url=emulator.url, digest_at="00:00")
    for settings in (off, on):
        bot = make_bot(settings)
        try:
            await Housekeeping(bot, settings, holder="w").round(now)
        finally:
            await bot.session.close()
    [message] = emulator.messages_to(TOKEN, ADMIN["id"])
    assert "check: 2 problems" in message["text"]
    assert f"user {ALICE['id']}: balance 99 but ledger sums to 10" in message["text"]


async def test_the_leading_worker_sends_the_digest_among_its_duties(
    db: str, emulator: BotApiEmulator, aiohttp_client: Any
) -> None:
    running, stop, task = await start_system(
        aiohttp_client, emulator, digest_at="00:00", admin_ids=[ADMIN["id"]]
    )
    try:
        [message] = await emulator.wait_for_message(TOKEN, ADMIN["id"], timeout=20)
        assert message["text"].startswith("Stars digest for ")
    finally:
        stop.set()
        await asyncio.wait_for(task, 40)
    assert running.worker.housekeeping.settings.digest_at == "00:00"
