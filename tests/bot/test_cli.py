"""The operator commands of run_bot.py, against a real database and the emulator."""

from __future__ import annotations

from pathlib import Path

from models.db import apply_migrations, close_database, open_database
from models.money import Charge, credit_charge
from models.tables import TopUpOrder
from tests.bot.conftest import invoice_for
from tests.emulator import BotApiEmulator
from tests.helpers import ALICE, TOKEN
from tests.processes import run


async def test_operator_commands(tmp_path: Path, emulator: BotApiEmulator) -> None:
    db_url = f"sqlite://{tmp_path}/stars.sqlite3"
    env = {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": emulator.url, "DATABASE_URL": db_url}

    async def cli(*args: str) -> tuple[int, str]:
        code, out, err = await run("run_bot.py", *args, cwd=tmp_path, **env)
        assert "Traceback" not in err
        return code, out

    await apply_migrations(db_url)
    link = await invoice_for(emulator, db_url, 250)
    charge_id = emulator.charge(link, ALICE, deliver=False)  # Telegram took it; we missed it

    code, report = await cli("check")
    assert code == 1
    assert f"Telegram payment {charge_id} (250 XTR) is not on the ledger" in report
    assert "INVARIANTS VIOLATED" in report

    code, out = await cli("reconcile")
    assert code == 0
    assert out.splitlines()[2].split()[:2] == ["1", "1"]  # checked 1, credited 1

    code, report = await cli("check")
    assert code == 0, report
    assert "all invariants hold" in report
    assert "The bot's own Stars (getMyStarBalance, refunds draw on them): 250 ⭐" in report

    code, out = await cli("user", str(ALICE["id"]))
    assert code == 0
    assert "250" in out.splitlines()[2]
    assert charge_id in out

    await open_database(db_url)
    try:
        order = await TopUpOrder.get(user_id=ALICE["id"])
        await credit_charge(Charge("manual-charge", ALICE["id"], 10, "x"))
    finally:
        await close_database()
    code, out = await cli("order", str(order.id))
    assert code == 0
    assert "paid" in out
    assert charge_id in out
    code, out = await cli("charge", charge_id)
    assert code == 0
    assert "topup" in out

    emulator.set_star_balance(TOKEN, 249)
    code, out = await cli("refund", charge_id)
    assert code == 1
    assert out.startswith("The bot holds 249 ⭐, fewer than the 250 ⭐")
    assert charge_id not in emulator.bot(TOKEN).refunded
    emulator.bot(TOKEN).star_balance = None  # the sum of its payments again
    code, out = await cli("refund", charge_id)
    assert code == 0, out
    assert out.startswith(f"Refunded 250 ⭐ of charge {charge_id}")
    assert charge_id in emulator.bot(TOKEN).refunded
    code, out = await cli("refund", charge_id)
    assert code == 1
    assert "already refunded" in out

    for args in (("user", "424242"), ("order", "nope"), ("charge", "nope")):
        code, out = await cli(*args)
        assert code == 1, args
    code, report = await cli("check")
    assert code == 0, report
