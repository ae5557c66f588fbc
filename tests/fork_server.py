"""A fork server for `run_bot.py` commands: one process imports what the commands import,
once, then forks a child per command that runs `run_bot.py` as `python run_bot.py ...`
would: its own environment, folder, arguments, standard streams and exit code.

A `run_bot.py` command that calls Telegram pays about 3 s importing aiogram (5 s on a
loaded 2-core machine), and the operator-command tests run some thirty commands. Those
tests check what a command does; a child forked from here does the same, minus the
imports. What a fresh process imports and how it starts stays tested with fresh
processes (`tests.processes.run`: the database commands never load aiogram; and every
test that starts the worker).

Run as `python -m tests.fork_server`: it reads one JSON request a line on its standard
input and answers on its standard output with the child's pid, then its exit code.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import importlib
import io
import json
import os
import runpy
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.processes import ROOT, child_env

# What `run_bot.py`'s commands import, the Telegram ones included: the cost of a start.
PRELOAD = [
    "bot.main",
    "aiogram",
    "bot.cli",
    "bot.cli.database",
    "bot.cli.telegram",
    "bot.parser",
    "models.infra.logs",
    "models.infra.loop",
]


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become `python <script> <args>` and run it; never returns."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for fd, target in ((null, 0), (out, 1), (err, 2)):
        os.dup2(fd, target)
        os.close(fd)
    if os.environ.get("PYTHONUNBUFFERED"):  # as the interpreter would have set it up
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(write_through=True)
    script = str(request["script"])
    sys.argv = [script, *request["args"]]
    sys.path[0] = str(Path(script).parent)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as end:  # as the interpreter ends on one
        if end.code is None or isinstance(end.code, int):
            code = end.code or 0
        else:
            print(end.code, file=sys.stderr)
            code = 1
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    # What the interpreter does on the way out that anyone could see: a collection (an
    # unclosed session's warning, say), the atexit handlers (logging's among them), the
    # streams flushed; not its second-long teardown of aiogram's objects, which serve()
    # froze out of every collection.
    gc.collect()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def serve() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    gc.freeze()  # the children neither walk nor copy what was imported
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)


class ForkServer:
    """The test side: start the server once, then `run` commands through it, one at a
    time, with the same signature and answer as `tests.processes.run`."""

    def __init__(self, script: str = "run_bot.py") -> None:
        self.script = str(ROOT / script)
        self._server: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._calls = 0

    def start(self) -> None:
        self._server = subprocess.Popen(
            [sys.executable, "-m", "tests.fork_server"],
            cwd=str(ROOT),
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._answer() == {"ready": True}

    def stop(self) -> None:
        if self._server is not None:
            assert self._server.stdin is not None
            self._server.stdin.close()
            try:
                self._server.wait(10)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()
            if self._server.stdout is not None:
                self._server.stdout.close()

    def _answer(self) -> dict[str, Any]:
        assert self._server is not None
        assert self._server.stdout is not None
        line = self._server.stdout.readline()
        if not line:
            raise RuntimeError(f"the fork server exited with {self._server.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _call(self, request: dict[str, Any], pids: list[int]) -> int:
        with self._lock:
            assert self._server is not None
            assert self._server.stdin is not None
            self._server.stdin.write(json.dumps(request) + "\n")
            self._server.stdin.flush()
            pids.append(int(self._answer()["pid"]))
            return int(self._answer()["code"])

    async def run(
        self, *args: str, cwd: Path, timeout: float = 120, **env: Any
    ) -> tuple[int, str, str]:
        self._calls += 1
        out, err = cwd / f".fork-{self._calls}.out", cwd / f".fork-{self._calls}.err"
        request = {
            "script": self.script,
            "args": list(args),
            "cwd": str(cwd),
            "env": child_env(**env),
            "stdout": str(out),
            "stderr": str(err),
        }
        pids: list[int] = []
        call = asyncio.ensure_future(asyncio.to_thread(self._call, request, pids))
        try:
            code = await asyncio.wait_for(asyncio.shield(call), timeout)
        except TimeoutError:
            for pid in pids:  # not left running behind a failed test
                os.kill(pid, signal.SIGKILL)
            await call
            raise
        try:
            return code, out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8")
        finally:
            out.unlink()
            err.unlink()


if __name__ == "__main__":
    serve()
