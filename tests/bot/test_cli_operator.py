"""The operator's year on the command line: `adjust` and `copy-database`, each command
a process forked from one that imported run_bot.py's modules once (tests.fork_server)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise

from models.events.delivery import claim_due, finish
from models.events.outbox import switch_events
from models.gifts.rules import Item, Recipient
from models.gifts.store import GiftRequest, buy
from models.infra.db import apply_migrations, close_database, open_database
from models.infra.jobs import deployment_time
from models.infra.sql import as_datetime
from models.kinds import EntryKind, EventState, GiftKind
from models.ledger.adjustments import adjust
from models.ledger.credits import credit_charge
from models.ledger.debits import debit, reverse_debit
from models.ledger.entries import apply_entry
from models.ledger.refunds import record_refund
from models.queries.invariants import check_ledger
from models.tables import Adjustment, Event, JobState, LedgerEntry, Notice, TopUpOrder
from models.users import upsert_user
from models.values import Charge, Profile, utcnow
from tests.fork_server import ForkServer
from tests.helpers import ALICE, BORIS, TOKEN, cid
from tests.processes import free_port


async def test_adjust_records_who_and_why_and_never_goes_below_zero_unless_told(
    tmp_path: Path, run_bot_forked: ForkServer
) -> None:
    db_url = f"sqlite://{tmp_path}/stars.sqlite3"
    env: dict[str, Any] = {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": f"http://127.0.0.1:{free_port()}",  # never called
        "DATABASE_URL": db_url,
        "USER": "night-shift",
    }
    await apply_migrations(db_url)
    await open_database(db_url)
    try:
        await upsert_user(Profile(ALICE["id"], "alice", "Alice", "en"))
        await apply_entry(ALICE["id"], 40, EntryKind.DEV_CREDIT)
    finally:
        await close_database()

    async def cli(*args: str) -> tuple[int, str]:
        code, out, err = await run_bot_forked.run(*args, cwd=tmp_path, **env)
        assert "Traceback" not in err
        return code, out

    user = str(ALICE["id"])
    code, out = await cli("adjust", user, "-50", "--reason", "chargeback")
    assert code == 1
    assert "has 40 ⭐" in out
    assert "below zero" in out
    code, out = await cli("adjust", user, "+15", "--reason", "outage compensation")
    assert code == 0, out
    assert "by night-shift" in out
    assert "balance now 55 ⭐" in out
    code, out = await cli(
        "adjust", user, "-60", "--reason", "chargeback", "--by", "dana", "--allow-negative"
    )
    assert code == 0, out
    assert "balance now -5 ⭐" in out
    code, out = await cli("adjust", "424242", "5", "--reason", "typo")
    assert code == 1
    assert "no user 424242" in out
    code, _ = await cli("adjust", user, "0", "--reason", "nothing")
    assert code == 2  # argparse refuses it
    code, out = await cli("user", user)
    assert code == 0
    assert "outage compensation" in out
    assert "dana" in out
    assert "night-shift" in out
    code, out = await cli("check", "--offline")
    assert code == 0, out

    await open_database(db_url)
    try:
        assert sorted(await Adjustment.all().values_list("actor", "amount")) == [
            ("dana", -60),
            ("night-shift", 15),
        ]
        assert (await check_ledger()).ok
    finally:
        await close_database()


USERS = 3_000


async def build_deployment(db_url: str, users: int = USERS) -> None:
    """A SQLite deployment with every kind of row: a pending, a paid and a refunded
    order, debits (one reversed), an adjustment, notices sent and owed, events
    delivered, abandoned and undelivered, the jobs' cursors and an expired lease; and
    `users` more users, each with a top-up and a debit (bulk inserts, chains intact)."""
    await apply_migrations(db_url)
    await open_database(db_url)
    try:
        await switch_events(True)
        for person in (ALICE, BORIS):
            await upsert_user(Profile(person["id"], person["username"], person["first_name"]))
        now = utcnow()
        pending = await TopUpOrder.create(
            id=uuid.uuid4(),
            user_id=ALICE["id"],
            amount=100,
            created_at=now,
            expires_at=now + timedelta(days=1),
        )
        paid = await TopUpOrder.create(
            id=uuid.uuid4(),
            user_id=ALICE["id"],
            amount=250,
            created_at=now,
            expires_at=now + timedelta(days=1),
        )
        await credit_charge(Charge(cid("paid"), ALICE["id"], 250, str(paid.id)))
        await credit_charge(Charge(cid("back"), BORIS["id"], 50, "unknown"))
        await record_refund(cid("back"))
        spent = await debit(ALICE["id"], 30, "a gift", "key-1")
        await reverse_debit(spent.debit.id, "returned")
        await debit(ALICE["id"], 20, "a sticker", "key-2")
        await adjust(BORIS["id"], 5, "outage compensation", "ops")
        await buy(
            GiftRequest(
                ALICE["id"],
                Item(GiftKind.GIFT, gift_id="5170145012310081615"),
                Recipient(user_id=BORIS["id"]),
                15,
                "gift-1",
                pay_for_upgrade=True,
            )
        )
        events = await Event.all().order_by("entry_id")
        await finish(events[0].id, events[0].user_id, EventState.DELIVERED, now)
        await finish(events[1].id, events[1].user_id, EventState.ABANDONED, now, "HTTP 500")
        await Notice.filter(telegram_payment_charge_id=cid("paid")).update(sent_at=now)
        await JobState.create(name="reconcile", cursor={"newest": "abc", "offset": 7})
        await deployment_time()
        await JobState.create(
            name="worker", holder="old-host:1:abc", lease_until=now - timedelta(minutes=5)
        )
        assert pending.status == "pending"
    finally:
        await close_database()
    stamp = utcnow().isoformat(sep=" ")
    path = db_url.removeprefix("sqlite://")
    with sqlite3.connect(path) as bulk:
        base = 10_000_000
        bulk.executemany(
            "INSERT INTO users (id, username, first_name, stars_balance, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(base + i, f"u{i}", "Пользователь", 90, stamp, stamp) for i in range(users)],
        )
        bulk.executemany(
            "INSERT INTO ledger_entries (user_id, amount, kind, telegram_payment_charge_id, "
            "stars_balance_after, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                row
                for i in range(users)
                for row in (
                    (base + i, 100, "topup", f"bulk-{i}", 100, stamp),
                    (base + i, -10, "debit", None, 90, stamp),
                )
            ],
        )


def dump(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Rows as comparable text: timestamps as instants, UUIDs, JSON and booleans by value."""

    def text(value: Any) -> str:
        if isinstance(value, bool):  # SQLite keeps booleans as 0 and 1
            return str(int(value))
        if isinstance(value, datetime):
            return as_datetime(value).astimezone(UTC).isoformat()
        if isinstance(value, str):
            try:
                return as_datetime(value).astimezone(UTC).isoformat()
            except ValueError:
                pass
            try:
                return str(uuid.UUID(value))
            except ValueError:
                pass
            if value.startswith("{"):
                return json.dumps(json.loads(value), sort_keys=True)
        if isinstance(value, dict):
            return json.dumps(value, sort_keys=True)
        return str(value)

    return sorted(tuple(f"{k}={text(v)}" for k, v in sorted(row.items())) for row in rows)


async def table_rows(db_url: str, table: str) -> list[dict[str, Any]]:
    await open_database(db_url)
    try:
        rows = await Tortoise.get_connection("default").execute_query_dict(
            f'SELECT * FROM "{table}"'
        )
        return list(rows)
    finally:
        await close_database()


TABLES = [
    "users",
    "gifts",
    "topup_orders",
    "debits",
    "ledger_entries",
    "adjustments",
    "notices",
    "events",
]


@pytest.mark.parametrize("empty_db_url", ["postgres"], indirect=True)
async def test_copy_database_moves_every_row_and_the_copy_passes_check(
    tmp_path: Path, empty_db_url: str, run_bot_forked: ForkServer
) -> None:
    source = f"sqlite://{tmp_path}/stars.sqlite3"
    await build_deployment(source)
    env: dict[str, Any] = {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": f"http://127.0.0.1:{free_port()}",  # never called
        "DATABASE_URL": source,
    }
    code, out, err = await run_bot_forked.run(
        "copy-database", "--to", empty_db_url, cwd=tmp_path, **env
    )
    assert code == 0, out + err
    assert "ledger_entries: 5000/6008 rows" in out  # progress on a large table
    assert "all invariants hold" in out
    for table in TABLES:
        assert dump(await table_rows(empty_db_url, table)) == dump(
            await table_rows(source, table)
        ), table
    jobs = {row["name"]: row for row in await table_rows(empty_db_url, "job_state")}
    assert set(jobs) == {"events", "deployment", "reconcile", "worker"}
    cursor = jobs["reconcile"]["cursor"]
    assert (json.loads(cursor) if isinstance(cursor, str) else cursor) == {
        "newest": "abc",
        "offset": 7,
    }
    assert all(job["holder"] is None and job["lease_until"] is None for job in jobs.values())
    states = [row["state"] for row in await table_rows(empty_db_url, "events")]
    assert {"pending", "delivered", "abandoned"} <= set(states)

    # The copy is the deployment: the next rows take ids after the copied ones, a charge
    # credited before is not credited again, and the pending order is payable.
    await open_database(empty_db_url)
    try:
        [order] = await TopUpOrder.filter(status="pending").values_list("id", flat=True)
        before = await LedgerEntry.all().order_by("-id").first()
        assert before is not None
        again = await credit_charge(Charge(cid("paid"), ALICE["id"], 250, "x"))
        assert again.status == "already_credited"
        paid = await credit_charge(Charge(cid("new"), ALICE["id"], 100, str(order)))
        assert paid.anomaly is None
        # The events still owed go out from the copy, heads first.
        owed = await claim_due(utcnow(), 100, utcnow() + timedelta(seconds=30))
        assert owed
        assert {e.user_id for e in owed} <= {ALICE["id"], BORIS["id"]}
        newest = await LedgerEntry.all().order_by("-id").first()
        assert newest is not None
        assert newest.id > before.id  # (a failed insert may use up a number)
        assert (await check_ledger()).ok
    finally:
        await close_database()

    code, out, err = await run_bot_forked.run(
        "copy-database", "--to", empty_db_url, cwd=tmp_path, **env
    )
    assert code == 1, out + err
    assert "the target is not empty" in out
    assert "nothing was copied" in out


async def test_copy_database_refuses_a_source_whose_worker_is_running(
    tmp_path: Path, run_bot_forked: ForkServer
) -> None:
    source = f"sqlite://{tmp_path}/stars.sqlite3"
    await apply_migrations(source)
    await open_database(source)
    try:
        await JobState.create(
            name="worker", holder="here:1:abc", lease_until=utcnow() + timedelta(seconds=30)
        )
    finally:
        await close_database()
    code, out, err = await run_bot_forked.run(
        "copy-database",
        "--to",
        f"postgres://postgres@127.0.0.1:{free_port()}/never",
        cwd=tmp_path,
        BOT_TOKEN=TOKEN,
        DATABASE_URL=source,
    )
    assert code == 1, out + err
    assert "holds its lease" in out


async def test_copy_database_to_an_unreachable_target_fails_without_showing_its_password(
    tmp_path: Path, run_bot_forked: ForkServer
) -> None:
    password = "n0t-f0r-the-logs-" + "x" * 12
    code, out, err = await run_bot_forked.run(
        "copy-database",
        "--to",
        f"postgres://stars:{password}@127.0.0.1:{free_port()}/stars",
        cwd=tmp_path,
        BOT_TOKEN=TOKEN,
        DATABASE_URL=f"sqlite://{tmp_path}/stars.sqlite3",
    )
    assert code == 1, out + err
    assert "Traceback" not in err
    assert "command.failed" in err
    assert password not in out + err
