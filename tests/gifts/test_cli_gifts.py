"""`run_bot.py gifts`: the operator lists purchases, sees the unsettled ones and
settles one by hand, once (a real process on a SQLite file)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from models.gifts.rules import Item, Recipient
from models.gifts.store import GiftRequest, buy, claim_due
from models.infra.db import apply_migrations, close_database, open_database
from models.kinds import EntryKind, GiftKind
from models.ledger.entries import apply_entry
from models.queries.accounts import get_balance
from models.tables import Gift
from models.users import upsert_user
from models.values import Profile, utcnow
from tests.fork_server import ForkServer
from tests.helpers import TOKEN


async def test_the_operator_lists_and_settles_a_purchase_by_hand(
    tmp_path: Path, run_bot_forked: ForkServer
) -> None:
    db_url = f"sqlite://{tmp_path}/stars.sqlite3"
    env: dict[str, Any] = {"BOT_TOKEN": TOKEN, "DATABASE_URL": db_url}

    async def cli(*args: str) -> tuple[int, str]:
        code, out, err = await run_bot_forked.run(*args, cwd=tmp_path, **env)
        assert "Traceback" not in err
        return code, out

    await apply_migrations(db_url)
    await open_database(db_url)
    try:
        await upsert_user(Profile(501, first_name="Ann"))
        await apply_entry(501, 100, EntryKind.DEV_CREDIT, note="test")
        request = GiftRequest(
            501, Item(GiftKind.GIFT, "5170233102089322756"), Recipient(user_id=7), 15, "op-1"
        )
        gift = (await buy(request)).gift
        await claim_due(utcnow(), 1)  # an attempt began; then the worker died
        queued = (await buy(replace(request, idempotency_key="op-2"))).gift  # never claimed
    finally:
        await close_database()

    code, out = await cli("gifts", "unsettled")
    assert code == 0
    assert str(gift.id) in out
    assert "1 unsettled" in out
    # Never claimed, so never asked of Telegram: it cannot be settled as sent.
    code, out = await cli("gifts", "settle", str(queued.id), "--sent")
    assert code == 1
    assert "never sent to Telegram" in out
    # Its attempt began a moment ago: the call may still be on the wire (up to
    # GIFT_CALL_TIMEOUT + 10 s), and Telegram may yet make it. Failed now, the gift could
    # go out with its Stars back: refused unless the operator says --force.
    settle_failed = ("gifts", "settle", str(gift.id), "--failed", "--reason", "checked")
    code, out = await cli(*settle_failed)
    assert code == 1
    assert "may still be on the wire" in out
    assert "--force" in out
    code, out = await cli("gifts", "show", str(gift.id))
    assert "failure_reason: None" in out  # nothing changed
    code, out = await cli(*settle_failed, "--force")
    assert code == 0, out
    assert "failed, its Stars given back" in out
    code, out = await cli("gifts", "settle", str(gift.id), "--sent")
    assert code == 1
    assert "failed already" in out
    code, out = await cli("gifts", "list", "--state", "failed")
    assert str(gift.id) in out
    code, out = await cli("gifts", "show", str(gift.id))
    assert "failure_reason: checked" in out
    assert (await cli("gifts", "show", "nope"))[0] == 1

    await open_database(db_url)
    try:
        assert await get_balance(501) == 100 - 15  # the queued one still pending
    finally:
        await close_database()


async def test_settling_failed_by_hand_is_allowed_once_the_call_is_off_the_wire(
    tmp_path: Path, run_bot_forked: ForkServer
) -> None:
    db_url = f"sqlite://{tmp_path}/stars.sqlite3"
    env: dict[str, Any] = {"BOT_TOKEN": TOKEN, "DATABASE_URL": db_url, "GIFT_CALL_TIMEOUT": "5"}
    await apply_migrations(db_url)
    await open_database(db_url)
    try:
        await upsert_user(Profile(501, first_name="Ann"))
        await apply_entry(501, 100, EntryKind.DEV_CREDIT, note="test")
        request = GiftRequest(
            501, Item(GiftKind.GIFT, "5170233102089322756"), Recipient(user_id=7), 15, "op-1"
        )
        gift = (await buy(request)).gift
        await claim_due(utcnow(), 1)
        # The attempt began 16 s ago: past GIFT_CALL_TIMEOUT (5) + 10 s.
        began = utcnow() - timedelta(seconds=16)
        await Gift.filter(id=gift.id).update(attempt_started_at=began)
    finally:
        await close_database()
    code, out, err = await run_bot_forked.run(
        "gifts", "settle", str(gift.id), "--failed", cwd=tmp_path, **env
    )
    assert "Traceback" not in err
    assert code == 0, out
    assert "failed, its Stars given back" in out
