"""Start-up failures explain themselves: one line naming what failed and where (the
setting, the database's kind, host and port or path), never the token or a password,
and an exit code of its own (docs/operations.md#exit-codes). Bad settings themselves:
tests/models/test_settings.py."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from models.infra.startup import (
    EXIT_CONFIGURATION,
    EXIT_DATABASE,
    EXIT_LISTEN,
    EXIT_TELEGRAM,
    TOKEN_REJECTED,
)
from tests.databases import PG_URL, pg_address
from tests.emulator import BotApiEmulator
from tests.fork_server import ForkServer
from tests.helpers import TOKEN
from tests.processes import free_port, run, start

# Shaped like a token; the emulator, like Telegram, answers 401 to any it does not know.
UNKNOWN_TOKEN = "777777:AAHnotATokenThisEmulatorKnows000000"
SCRIPTS = ["run_bot.py", "run_api.py"]


def failure_lines(err: str) -> list[str]:
    """The lines of standard error that are not JSON log records (start-up's own lines)."""
    lines = []
    for line in err.strip().splitlines():
        try:
            json.loads(line)
        except ValueError:
            lines.append(line)
    return lines


def logged_levels(err: str) -> set[str]:
    levels = set()
    for line in err.strip().splitlines():
        try:
            levels.add(json.loads(line).get("level", ""))
        except ValueError:
            continue
    return levels


@pytest.mark.parametrize(
    "command", [("run_bot.py",), ("run_api.py",), ("run_bot.py", "check")], ids=" ".join
)
async def test_a_token_telegram_rejects_stops_with_exit_2_and_one_line(
    tmp_path: Path, emulator: BotApiEmulator, command: tuple[str, ...]
) -> None:
    code, out, err = await run(
        *command,
        cwd=tmp_path,
        timeout=60,
        BOT_TOKEN=UNKNOWN_TOKEN,
        TELEGRAM_API_URL=emulator.url,
        DATABASE_URL=f"sqlite://{tmp_path}/stars.sqlite3",
        API_PORT=free_port(),
    )
    assert code == EXIT_CONFIGURATION, err
    assert failure_lines(err) == [TOKEN_REJECTED]
    assert "BOT_TOKEN" in TOKEN_REJECTED
    assert "startup.retrying" not in err  # not retried: a rejected token stays rejected
    assert UNKNOWN_TOKEN.split(":")[1] not in out + err


@pytest.mark.parametrize("script", SCRIPTS)
async def test_a_sqlite_folder_that_cannot_be_made_is_one_line_with_its_path(
    tmp_path: Path, script: str
) -> None:
    (tmp_path / "data").write_text("a file where the folder should be")
    code, _, err = await run(
        script, cwd=tmp_path, BOT_TOKEN=TOKEN, DATABASE_URL="sqlite://data/db/stars.sqlite3"
    )
    assert code == EXIT_DATABASE
    assert failure_lines(err) == [
        f"database error: cannot create the folder {tmp_path}/data/db for the SQLite "
        "database of DATABASE_URL (Not a directory)"
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
async def test_an_unwritable_sqlite_folder_is_one_line_with_its_path(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o555)
    code, _, err = await run(
        "run_bot.py", cwd=tmp_path, BOT_TOKEN=TOKEN, DATABASE_URL="sqlite://data/stars.sqlite3"
    )
    assert code == EXIT_DATABASE
    assert failure_lines(err) == [
        f"database error: the folder {folder} of the SQLite database of DATABASE_URL is not "
        "writable by this user (SQLite writes its journal next to the file)"
    ]


@pytest.mark.parametrize("script", SCRIPTS)
async def test_a_refused_database_connection_names_the_host_and_port_never_the_password(
    tmp_path: Path, script: str
) -> None:
    port = free_port()  # nothing listens there
    code, _, err = await run(
        script,
        cwd=tmp_path,
        BOT_TOKEN=TOKEN,
        DATABASE_URL=f"postgres://stars:hunter2secret@127.0.0.1:{port}/shop",
        TELEGRAM_API_URL=f"http://127.0.0.1:{free_port()}",
    )
    assert code == EXIT_DATABASE
    assert failure_lines(err) == [
        f"database error: cannot connect to PostgreSQL at 127.0.0.1:{port}, database 'shop' "
        "(DATABASE_URL): connection refused: is PostgreSQL running and listening there?"
    ]
    assert "hunter2secret" not in err


@pytest.mark.skipif(not PG_URL, reason="needs TEST_POSTGRES_URL: a server that says no")
async def test_a_database_that_does_not_exist_is_a_configuration_error(tmp_path: Path) -> None:
    host, port = pg_address(PG_URL)
    url = PG_URL.rsplit("/", 1)[0] + "/no_such_database_here"
    code, _, err = await run("run_api.py", cwd=tmp_path, BOT_TOKEN=TOKEN, DATABASE_URL=url)
    assert code == EXIT_CONFIGURATION
    assert failure_lines(err) == [
        f"configuration error: DATABASE_URL: PostgreSQL at {host}:{port}, database "
        "'no_such_database_here' refused us: database \"no_such_database_here\" does not exist"
    ]


@pytest.mark.parametrize("script", SCRIPTS)
async def test_a_connection_option_the_driver_rejects_is_a_configuration_error(
    tmp_path: Path, script: str
) -> None:
    # No server is asked: the value itself is wrong, so a restart (exit 3) would only
    # loop under systemd. Exit 2, one line, no password.
    code, _, err = await run(
        script,
        cwd=tmp_path,
        BOT_TOKEN=TOKEN,
        DATABASE_URL=f"postgres://stars:hunter2secret@127.0.0.1:{free_port()}/shop?sslmode=on",
        TELEGRAM_API_URL=f"http://127.0.0.1:{free_port()}",
    )
    assert code == EXIT_CONFIGURATION, err
    (line,) = failure_lines(err)
    assert line.startswith("configuration error: DATABASE_URL: ")
    assert "sslmode" in line
    assert "hunter2secret" not in err


async def test_a_taken_api_port_is_one_line_naming_it(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    port = free_port()
    env: dict[str, Any] = {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": emulator.url, "API_PORT": port}
    first = await start(
        "run_api.py", tmp_path / "first.log", DATABASE_URL=f"sqlite://{tmp_path}/a.sqlite3", **env
    )
    try:
        await first.wait_for_log("Running on")
        code, _, err = await run(
            "run_api.py", cwd=tmp_path, DATABASE_URL=f"sqlite://{tmp_path}/b.sqlite3", **env
        )
    finally:
        assert await first.stop() == 0
    assert code == EXIT_LISTEN
    assert failure_lines(err) == [
        f"listen error: cannot listen on 127.0.0.1:{port} (API_HOST, API_PORT): "
        "address already in use"
    ]


async def test_check_with_telegram_unreachable_says_what_it_skipped_and_prints_the_rest(
    tmp_path: Path, run_bot_forked: ForkServer
) -> None:
    code, out, err = await run_bot_forked.run(
        "check",
        cwd=tmp_path,
        BOT_TOKEN=TOKEN,
        DATABASE_URL=f"sqlite://{tmp_path}/stars.sqlite3",
        TELEGRAM_API_URL=f"http://127.0.0.1:{free_port()}",  # refused
    )
    assert code == EXIT_TELEGRAM, out + err
    assert "balance equals ledger sum" in out  # the database's own checks
    assert "all invariants hold" in out
    assert "Not checked: Telegram's side" in out
    assert "Traceback" not in err


async def test_a_clean_start_logs_nothing_that_reads_like_a_failure(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    port = free_port()
    env = {"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": emulator.url}
    db_url = f"sqlite://{tmp_path}/stars.sqlite3"
    api = await start(
        "run_api.py", tmp_path / "api.log", DATABASE_URL=db_url, API_PORT=port, **env
    )
    bot = await start("run_bot.py", tmp_path / "bot.log", DATABASE_URL=db_url, **env)
    try:
        await api.wait_for_log("Running on")
        await bot.wait_for_log("worker.leader_acquired")
    finally:
        assert await api.stop() == 0
        assert await bot.stop() == 0
    for log in (api.log, bot.log):
        assert logged_levels(log) <= {"info", "debug"}, log
        assert "Tortoise-ORM" not in log
