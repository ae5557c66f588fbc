"""The commands the docs print work as written: the operator and migration commands of
docs/operations.md against the shipped env file (.env.example, edited as its comments
say), and the README's quick start, which stops the other process when one exits.

They run in a folder standing in for /opt/stars (the checkout's scripts and venv linked
into it), as the current user rather than `stars`: `sudo -u stars` is the one word
left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
from pathlib import Path

import pytest

from tests import processes
from tests.emulator import BotApiEmulator
from tests.helpers import TOKEN
from tests.processes import ROOT, STARTUP, child_env, free_port

OPERATOR_COMMAND = re.compile(r"^cd /opt/stars && sudo -u stars sh -c '(.+)'$", re.M)
QUICK_START = re.compile(r"^python3 -m venv \.venv && .+? && (bash -c '.+')$", re.M)


def install_folder(tmp_path: Path) -> Path:
    """/opt/stars: the checkout's scripts and its venv, and a data folder of its own."""
    folder = tmp_path / "opt-stars"
    folder.mkdir()
    for name in ("run_bot.py", "run_api.py", ".venv"):
        (folder / name).symlink_to(ROOT / name)
    return folder


def shipped_env_file(tmp_path: Path, **edits: str) -> Path:
    """.env.example with the operator's edits (each `NAME=` line replaced) and a value with
    spaces in double quotes, as docs/operations.md says to write one."""
    text = (ROOT / ".env.example").read_text()
    for name, value in edits.items():
        text, found = re.subn(rf"^{name}=.*$", f"{name}={value}", text, flags=re.M)
        assert found == 1, name
    path = tmp_path / "stars.env"
    path.write_text(text)
    return path


def operator_commands() -> list[str]:
    commands = OPERATOR_COMMAND.findall((ROOT / "docs" / "operations.md").read_text())
    assert commands, "docs/operations.md shows no operator command"
    return commands


def plain_env() -> dict[str, str]:
    """A login shell's environment: none of the service's settings, no PYTHONPATH."""
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    return {name: os.environ[name] for name in keep if name in os.environ}


def test_no_page_loads_the_env_file_with_xargs() -> None:
    # `env $(cat … | xargs)` breaks on the shipped file's comments and quotes.
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        assert "xargs" not in page.read_text(), page.name


@pytest.mark.parametrize("command", operator_commands())
async def test_the_operator_commands_run_as_printed_with_the_shipped_env_file(
    tmp_path: Path, emulator: BotApiEmulator, command: str
) -> None:
    folder = install_folder(tmp_path)
    env_file = shipped_env_file(
        tmp_path,
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=emulator.url,
        PRIVACY_TEXT='"We keep your Telegram id and what you paid, nothing else."',
    )
    process = await asyncio.create_subprocess_exec(
        "sh",
        "-c",
        command.replace("/etc/stars/stars.env", str(env_file)),
        cwd=folder,
        env=plain_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), STARTUP)
    assert process.returncode == 0, out.decode() + err.decode()
    assert "all invariants hold" in out.decode()
    # The default DATABASE_URL is relative: the database lands in /opt/stars/data.
    assert (folder / "data" / "stars.sqlite3").is_file()


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def processes_under(pid: int) -> dict[str, int]:
    """The quick start's processes by script, however many shells lie between:
    {"run_bot.py": pid, "run_api.py": pid}."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):  # a process that has just exited
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            words = Path(f"/proc/{child}/cmdline").read_bytes().decode().split("\0")
            scripts = [word for word in words if word in ("run_bot.py", "run_api.py")]
            if scripts:
                found[scripts[0]] = int(child)
            else:
                found |= processes_under(int(child))
    return found


def gone(pid: int) -> bool:
    try:
        return "zombie" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


async def quick_start(
    tmp_path: Path, emulator: BotApiEmulator
) -> tuple[asyncio.subprocess.Process, int, dict[str, int]]:
    """The README's one-liner, past its install step, with both processes up (reads
    /proc: Linux, as the service is)."""
    [line] = QUICK_START.findall((ROOT / "README.md").read_text())
    folder = install_folder(tmp_path)
    port = free_port()
    env = child_env(
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=emulator.url,
        DATABASE_URL=f"sqlite://{tmp_path}/stars.sqlite3",
        API_PORT=port,
        LOG_FORMAT="console",
    )
    log = open(tmp_path / "quick.log", "ab")  # noqa: ASYNC230, SIM115
    # A session of its own, as a terminal gives the command: a group to send Ctrl-C to.
    process = await asyncio.create_subprocess_exec(
        "sh", "-c", line, cwd=folder, env=env, stdout=log, stderr=log, start_new_session=True
    )
    log.close()
    processes.track(process)
    deadline = asyncio.get_running_loop().time() + STARTUP
    while asyncio.get_running_loop().time() < deadline and process.returncode is None:
        found = processes_under(process.pid)
        if len(found) == 2 and not refuses(port) and emulator.bot(TOKEN).calls_of("getUpdates"):
            return process, port, found
        await asyncio.sleep(0.1)
    raise AssertionError((tmp_path / "quick.log").read_text())


@pytest.mark.slow  # both processes started and stopped: some 10 s
@pytest.mark.parametrize("crashed", ["run_bot.py", "run_api.py"])
async def test_the_quick_start_stops_the_other_process_when_one_exits(
    tmp_path: Path, emulator: BotApiEmulator, crashed: str
) -> None:
    process, port, pids = await quick_start(tmp_path, emulator)
    try:
        os.kill(pids[crashed], signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 40)
        assert all(gone(pid) for pid in pids.values())
        assert refuses(port)  # the API no longer holds its port
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.slow  # both processes started and stopped: some 10 s
async def test_ctrl_c_stops_both_processes_of_the_quick_start(
    tmp_path: Path, emulator: BotApiEmulator
) -> None:
    process, port, pids = await quick_start(tmp_path, emulator)
    try:
        os.killpg(process.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
        await asyncio.wait_for(process.wait(), 40)
        assert all(gone(pid) for pid in pids.values())
        assert refuses(port)
        log = (tmp_path / "quick.log").read_text()
        assert "worker.stopped" in log
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
