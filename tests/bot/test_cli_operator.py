"""The operator's year on the command line: `adjust` and `copy-database`, each command
a process forked from one that imported run_bot.py's modules once (tests.fork_server)."""

from __future__ import annotations

from pathlib import Path

from models.infra.db import apply_migrations, close_database, open_database
from models.kinds import EntryKind
from models.ledger.entries import apply_entry
from models.queries.invariants import check_ledger
from models.tables import Adjustment
from models.users import upsert_user
from models.values import Profile
from tests.fork_server import ForkServer
from tests.helpers import ALICE, TOKEN
from tests.processes import free_port


async def test_adjust_records_who_and_why_and_never_goes_below_zero_unless_told(
    tmp_path: Path, run_bot_forked: ForkServer
) -> None:
    db_url = f"sqlite://{tmp_path}/stars.sqlite3"
    env = {
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
