"""`run_bot.py events`: what waits for the app's backend, what was given up on, and
sending abandoned events again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.cli.database import cmd_events
from bot.parser import build_parser
from models.events.delivery import claim_due, finish, public_id
from models.events.outbox import switch_events
from models.infra.db import apply_migrations, close_database, open_database
from models.kinds import EntryKind, EventState
from models.ledger.entries import apply_entry
from models.tables import Event
from models.values import utcnow
from tests.helpers import TOKEN
from tests.processes import run


async def events_command(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    parsed = build_parser().parse_args(["events", *args])
    code = await cmd_events(parsed)
    return code, capsys.readouterr().out


async def one_abandoned_one_waiting() -> tuple[str, str]:
    await switch_events(True)
    for amount in (5, 6):
        await apply_entry(41, amount, EntryKind.DEV_CREDIT)
    await apply_entry(42, 7, EntryKind.DEV_CREDIT)
    now = utcnow()
    heads = await claim_due(now, 10, now)
    await finish(heads[0].id, 41, EventState.ABANDONED, now, "HTTP 502")
    await finish(heads[1].id, 42, EventState.DELIVERED, now)
    waiting = await Event.get(user_id=41, state=EventState.PENDING)
    return public_id(heads[0].id), public_id(waiting.id)


async def test_listing_and_redelivering_events(db: str, capsys: Any) -> None:
    code, out = await events_command(capsys)
    assert code == 0
    assert out.splitlines() == [
        "events: off (no worker with EVENTS_URL has started since they were turned off)",
        "undelivered 0, abandoned 0, delivered 0",
    ]
    abandoned, waiting = await one_abandoned_one_waiting()

    code, out = await events_command(capsys, "list")
    assert code == 0
    assert out.splitlines()[0].startswith("events: on since ")
    assert "undelivered 1, abandoned 1, delivered 1" in out
    pending_part, abandoned_part = out.split("abandoned (")
    assert waiting in pending_part
    assert "balance.adjusted" in pending_part
    assert abandoned in abandoned_part
    assert "HTTP 502" in abandoned_part

    code, out = await events_command(capsys, "redeliver", waiting)
    assert (code, out.strip()) == (1, f"{waiting} is not an abandoned or gone event")
    code, out = await events_command(capsys, "redeliver", "evt_garbage")
    assert code == 1
    code, out = await events_command(capsys, "redeliver", abandoned)
    assert code == 0
    assert out.startswith(f"{abandoned} queued again")
    code, out = await events_command(capsys, "redeliver", "--all")
    assert (code, out.strip()) == (0, "0 abandoned events queued again")
    _, out = await events_command(capsys, "list")
    assert "undelivered 2, abandoned 0, delivered 1" in out


async def test_run_bot_redelivers_every_abandoned_event(tmp_path: Path) -> None:
    db_url = f"sqlite://{tmp_path}/stars.sqlite3"
    await apply_migrations(db_url)
    await open_database(db_url)
    try:
        await one_abandoned_one_waiting()
    finally:
        await close_database()
    code, out, err = await run(
        "run_bot.py",
        "events",
        "redeliver",
        "--all",
        cwd=tmp_path,
        BOT_TOKEN=TOKEN,
        DATABASE_URL=db_url,
    )
    assert (code, out.strip()) == (0, "1 abandoned event queued again")
    assert "Traceback" not in err
    await open_database(db_url)
    try:
        assert await Event.filter(state=EventState.ABANDONED).count() == 0
    finally:
        await close_database()


async def test_events_the_receiver_said_gone_to_are_listed_and_sent_again(
    db: str, capsys: Any
) -> None:
    await switch_events(True)
    await apply_entry(43, 5, EntryKind.DEV_CREDIT)
    now = utcnow()
    [head] = await claim_due(now, 10, now)
    await finish(head.id, 43, EventState.GONE, now, "HTTP 410")
    code, out = await events_command(capsys)
    assert code == 0
    assert "undelivered 0, abandoned 0, delivered 0, gone 1" in out
    gone_part = out.split("gone: the receiver answered 410")[1]
    assert public_id(head.id) in gone_part
    assert "HTTP 410" in gone_part
    code, out = await events_command(capsys, "redeliver", "--all")
    assert code == 0
    assert (await Event.get(id=head.id)).state is EventState.PENDING
