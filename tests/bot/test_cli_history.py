"""`run_bot.py user` shows a user's history with the balance after each entry."""

from __future__ import annotations

from pathlib import Path

from models.infra.db import apply_migrations, close_database, open_database
from models.ledger.credits import credit_charge
from models.ledger.debits import debit, reverse_debit
from models.values import Charge
from tests.helpers import ALICE, TOKEN, cid
from tests.processes import run


async def test_user_lists_the_newest_entries_with_the_balance_after_each(tmp_path: Path) -> None:
    db_url = f"sqlite://{tmp_path}/stars.sqlite3"
    await apply_migrations(db_url)
    await open_database(db_url)
    try:
        await credit_charge(Charge(cid("cli"), ALICE["id"], 100, "no-order"))
        spent = await debit(ALICE["id"], 30, "a sticker pack", "cli-key")
        await reverse_debit(spent.debit.id, "not delivered")
        await debit(ALICE["id"], 45, "a gift", "cli-key-2")
    finally:
        await close_database()

    code, out, err = await run(
        "run_bot.py",
        "user",
        str(ALICE["id"]),
        "--limit",
        "3",
        cwd=tmp_path,
        BOT_TOKEN=TOKEN,
        DATABASE_URL=db_url,
        TELEGRAM_API_URL="http://127.0.0.1:9",
    )
    assert code == 0, err
    lines = out.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("id ")))
    assert "balance after" in lines[header]
    rows = [line.split() for line in lines[header + 2 :]]
    assert [(row[3], row[4], row[5]) for row in rows] == [
        ("debit", "-45", "55"),
        ("debit_reversal", "30", "100"),
        ("debit", "-30", "70"),
    ]
    assert "a gift" in lines[header + 2]
    assert "not delivered" in lines[header + 3]
    assert str(spent.debit.id) in lines[header + 4]
