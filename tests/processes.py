"""Running the real entrypoints (`run_bot.py`, `run_api.py`) as child processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# How long a child may take to say it is up. A deadline, not a wait: a start takes 1 to
# 5 s, but importing aiogram alone took 20 s on a 2-core machine running four suites.
STARTUP = 60.0
# Every child started and not yet seen to exit: `kill_leftovers` (tests/conftest.py, after
# each test) ends those a failed test left behind, which would otherwise run on, load
# the machine and hold their database for the rest of the run.
_children: list[asyncio.subprocess.Process] = []


@dataclass
class Child:
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_for_log(self, needle: str, timeout: float = STARTUP) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log:
                return
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"{needle!r} not logged; log so far:\n{self.log[-3000:]}")

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 40.0) -> int:
        if self.process.returncode is None:
            self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), timeout)

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**values: Any) -> dict[str, str]:
    """The child's environment: ours without the project's settings, JSON logs, and
    `values` (None removes a variable: the child gets the setting's default)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "API_", "DATABASE_"))}
    env.update({"PYTHONPATH": str(ROOT), "LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"})
    for key, value in values.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def _command(script: str) -> list[str]:
    """`run_bot.py` runs the file; a dotted name such as `tests.bench.floor_bot` runs -m."""
    return [str(ROOT / script)] if script.endswith(".py") else ["-m", script]


async def start(script: str, log_path: Path, *args: str, **env: Any) -> Child:
    handle = open(log_path, "ab")  # noqa: ASYNC230, SIM115 (the child owns it afterwards)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *_command(script),
        *args,
        cwd=str(log_path.parent),
        env=child_env(**env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=handle,
        stderr=handle,
    )
    handle.close()
    _children.append(process)
    return Child(process, log_path)


async def run(
    script: str, *args: str, cwd: Path, timeout: float = 120, **env: Any
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *_command(script),
        *args,
        cwd=str(cwd),
        env=child_env(**env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _children.append(process)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except BaseException:  # a timeout, or the test cancelled: not left running behind it
        process.kill()
        await process.wait()
        raise
    return process.returncode or 0, out.decode(), err.decode()


def track(process: asyncio.subprocess.Process) -> None:
    """A child started elsewhere, ended by `kill_leftovers` like those started here."""
    _children.append(process)


def kill_leftovers() -> list[int]:
    """SIGKILL every child started since the last call that has not exited; their pids."""
    killed = []
    for process in _children:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
                killed.append(process.pid)
    _children.clear()
    return killed
