"""The operator commands of run_bot.py, against a real database and the emulator.

Each command is a process of its own, forked from one that imported run_bot.py's
modules once (tests.fork_server): dozens of fresh starts took minutes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from models.infra.db import apply_migrations, close_database, open_database
from models.ledger.credits import credit_charge
from models.tables import TopUpOrder
from models.values import Charge
from tests.emulator import BotApiEmulator
from tests.fork_server import ForkServer
from tests.helpers import ALICE, BORIS, TOKEN
from tests.processes import free_port, run
from tests.system import invoice_for


def log_events(stderr: str) -> list[dict[str, Any]]:
    """The child's JSON log lines (LOG_FORMAT=json in tests.processes)."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


async def test_operator_commands(
    tmp_path: Path, emulator: BotApiEmulator, run_bot_forked: ForkServer
) -> None:
    db_url = f"sqlite://{tmp_path}/stars.sqlite3"
    env: dict[str, Any] = {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": emulator.url,
        "DATABASE_URL": db_url,
    }

    async def cli(*args: str) -> tuple[int, str]:
        code, out, err = await run_bot_forked.run(*args, cwd=tmp_path, **env)
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
    assert "Users' balances together: 250 ⭐; gift purchases pending: 0 ⭐" in report
    assert "less than it owes" not in report

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


async def redirect_loop(aiohttp_server) -> str:  # type: ignore[no-untyped-def]
    """A 'Bot API' that redirects every call to itself, as a misconfigured proxy may.
    aiohttp gives up after ten hops with an error quoting the URL, token and all."""

    async def again(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.path)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", again)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


# `check` prints what the database proves instead (tests/test_startup_failures.py).
@pytest.mark.parametrize("command", [("reconcile",), ("backfill", "--dry-run")])
async def test_a_command_that_cannot_reach_telegram_logs_why_and_exits_1(
    tmp_path: Path,
    aiohttp_server: Any,
    command: tuple[str, ...],
    run_bot_forked: ForkServer,
) -> None:
    db_url = f"sqlite://{tmp_path}/stars.sqlite3"
    for api_url in (f"http://127.0.0.1:{free_port()}", await redirect_loop(aiohttp_server)):
        code, out, err = await run_bot_forked.run(
            *command,
            cwd=tmp_path,
            BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=api_url,
            DATABASE_URL=db_url,
        )
        assert code == 1, err
        assert TOKEN.split(":")[1] not in out + err
        assert "Traceback" not in err
        [failure] = [event for event in log_events(err) if event["event"] == "command.failed"]
        assert failure["level"] == "error"
        assert failure["command"] == command[0]
        assert failure["error"].startswith("TelegramNetworkError: ")


async def test_a_command_that_cannot_reach_the_database_says_where_in_one_line_and_exits_3(
    tmp_path: Path, emulator: BotApiEmulator, run_bot_forked: ForkServer
) -> None:
    port = free_port()
    code, out, err = await run_bot_forked.run(
        "user",
        "1",
        cwd=tmp_path,
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=emulator.url,
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/stars",
    )
    assert code == 3, err
    assert TOKEN.split(":")[1] not in out + err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"database error: cannot connect to PostgreSQL at 127.0.0.1:{port}, database 'stars' "
        "(DATABASE_URL): connection refused: is PostgreSQL running and listening there?"
    )


async def test_payments_from_before_deployment_are_listed_and_credited_only_by_a_backfill(
    tmp_path: Path, emulator: BotApiEmulator, run_bot_forked: ForkServer
) -> None:
    env: dict[str, Any] = {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": emulator.url,
        "DATABASE_URL": f"sqlite://{tmp_path}/stars.sqlite3",
    }

    async def cli(*args: str) -> tuple[int, str]:
        code, out, err = await run_bot_forked.run(*args, cwd=tmp_path, **env)
        assert "Traceback" not in err
        return code, out

    day = 86_400
    long_ago = int(time.time()) - 40 * day
    old = [
        emulator.add_transaction(
            TOKEN,
            {
                "amount": amount,
                "date": long_ago + i * day,
                "source": {
                    "type": "user",
                    "transaction_type": "invoice_payment",
                    "user": {"is_bot": False, **user},
                    "invoice_payload": f"legacy-{i}",
                },
            },
        )["id"]
        for i, (user, amount) in enumerate([(ALICE, 100), (BORIS, 250)])
    ]

    code, out = await cli("reconcile")
    assert code == 0, out
    assert out.splitlines()[2].split()[:2] == ["2", "0"]  # checked 2, credited none
    assert "before deployment" in out
    assert all(charge in out for charge in old)

    code, report = await cli("check")
    assert code == 0, report
    assert "2 Telegram payments (350 XTR) were made before deployment" in report

    code, out = await cli("backfill", "--dry-run")
    assert code == 0, out
    assert out.startswith("would credit 2 payments (350 XTR) made before deployment")
    assert all(charge in out for charge in old)
    assert "nothing was credited" in out
    code, out = await cli("backfill", "--since", "not-a-date")
    assert code == 2  # argparse refuses it; nothing ran

    code, out = await cli(
        "backfill", "--since", f"{time.strftime('%Y-%m-%d', time.gmtime(long_ago + day))}"
    )
    assert code == 0, out
    assert out.splitlines()[0].startswith("1 payment (250 XTR)")
    assert old[1] in out
    assert "credited" in out
    code, out = await cli("backfill")
    assert code == 0, out
    assert old[0] in out
    assert old[1] not in out

    code, report = await cli("check")
    assert code == 0, report
    assert "before deployment" not in report
    code, out = await cli("user", str(ALICE["id"]))
    assert "100" in out.splitlines()[2]
    code, out = await cli("backfill", "--dry-run")
    assert out.startswith("nothing to credit")


def imported_modules(stderr: str) -> set[str]:
    """The modules a child loaded, from its PYTHONPROFILEIMPORTTIME lines."""
    prefix = "import time:"
    return {
        line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith(prefix)
    }


async def test_the_database_commands_never_load_aiogram_and_the_telegram_ones_do(
    tmp_path: Path,
) -> None:
    """Only a command that calls Telegram pays for aiogram (seconds of start-up); a
    look-up answers at once. Telegram is unreachable here: none of them may need it."""
    env: dict[str, Any] = {
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": f"http://127.0.0.1:{free_port()}",
        "DATABASE_URL": f"sqlite://{tmp_path}/stars.sqlite3",
        "PYTHONPROFILEIMPORTTIME": "1",
    }
    database_commands = [
        ("check", "--offline"),
        ("user", str(ALICE["id"])),
        ("order", "00000000-0000-0000-0000-000000000000"),
        ("charge", "nope"),
        ("events",),
        ("events", "redeliver", "--all"),
        ("adjust", str(ALICE["id"]), "+5", "--reason", "no such user yet"),
    ]
    for command in database_commands:
        code, out, err = await run("run_bot.py", *command, cwd=tmp_path, **env)
        assert "Traceback" not in err, command
        assert code in (0, 1), (command, out, err)
        loaded = imported_modules(err)
        assert not {name for name in loaded if name.partition(".")[0] == "aiogram"}, command
        assert "bot.cli.database" in loaded, command  # it ran, and the child was profiled
    # A refund calls Telegram, so it loads aiogram, even for a charge it then refuses.
    code, out, err = await run("run_bot.py", "refund", "nope", cwd=tmp_path, **env)
    assert code == 1, err
    assert "No payment with charge id nope is on our ledger." in out
    assert "aiogram" in imported_modules(err)
