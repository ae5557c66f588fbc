"""The sandbox in one command: `.venv/bin/python -m tests.sandbox`.

Starts the Bot API emulator (playing Telegram, its /sandbox/ page playing a Telegram
client), the bot worker and the API, all on a database of their own in `data/sandbox/`
(never the default `data/stars.sqlite3`: fake charges, the deployment date
reconciliation starts from and the polling lease stay out of it). No internet: the Mini
App page loads `telegram-web-app.js` from the emulator, which serves the npm package's
copy (`npm install ... @twa-dev/sdk`, see README). Ctrl-C (or SIGTERM) stops all three;
if the bot or the API exits on its own, the other is stopped too and its exit code is
this command's.

The processes run in `data/sandbox/`, so a `.env` in the checkout (a real token, a real
database) is never read; the settings they need are given here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from tests.emulator.control import WEB_APP_JS, WEB_APP_JS_MISSING
from tests.emulator.server import BotApiEmulator
from tests.helpers import TOKEN

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "data" / "sandbox"
STOP_TIMEOUT = 20.0  # seconds each process gets to stop before it is killed
# Settings a developer's shell may hold for a real deployment: never passed on.
NOT_PASSED = ("BOT_", "API_", "DATABASE_", "TELEGRAM_", "WEBAPP_", "EVENTS_", "SERVICE_")


def environment(emulator_url: str, host: str, api_port: int, database: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_PASSED)}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": emulator_url,
            "DATABASE_URL": f"sqlite://{database}",
            "API_HOST": host,
            "API_PORT": str(api_port),
            "WEBAPP_URL": f"http://{host}:{api_port}/app/",
            "WEBAPP_SCRIPT_URL": f"{emulator_url}/js/telegram-web-app.js",
        }
    )
    return env


async def stop(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()


async def sandbox(host: str, emulator_port: int, api_port: int, folder: Path) -> int:
    emulator = BotApiEmulator(sandbox_token=TOKEN, tokens=[TOKEN])
    emulator_url = await emulator.start(host, emulator_port)
    env = environment(emulator_url, host, api_port, folder / "sandbox.sqlite3")
    processes: list[asyncio.subprocess.Process] = []
    try:
        for script in ("run_bot.py", "run_api.py"):
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(ROOT / script),
                    cwd=folder,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    # Their own session: Ctrl-C reaches this process alone, which stops
                    # them in order (a terminal would signal all three at once).
                    start_new_session=True,
                )
            )
        app = f"http://{host}:{api_port}/app/"
        print(
            f"Sandbox: open {emulator_url}/sandbox/?app={app} and press "
            f'"Open Mini App" (database {folder / "sandbox.sqlite3"}); Ctrl-C stops it all',
            flush=True,
        )
        interrupted = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, interrupted.set)
        waits = [asyncio.ensure_future(process.wait()) for process in processes]
        interrupt = asyncio.ensure_future(interrupted.wait())
        await asyncio.wait([*waits, interrupt], return_when=asyncio.FIRST_COMPLETED)
        interrupt.cancel()
        ended = [process for process in processes if process.returncode is not None]
        await stop(processes)
        if ended and not interrupted.is_set():
            name = "the bot" if ended[0] is processes[0] else "the API"
            print(f"sandbox: {name} exited ({ended[0].returncode}); stopped the rest", flush=True)
            return ended[0].returncode or 1
        return max(process.returncode or 0 for process in processes)
    finally:
        await stop(processes)
        await emulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--emulator-port", type=int, default=8081, help="Telegram's stand-in")
    parser.add_argument("--api-port", type=int, default=8080, help="the API and its /app/")
    parser.add_argument("--folder", type=Path, default=FOLDER, help="its database and files")
    args = parser.parse_args(argv)
    args.folder.mkdir(parents=True, exist_ok=True)
    if not WEB_APP_JS.is_file():  # the page then says it could not load it
        print(f"warning: {WEB_APP_JS_MISSING}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(sandbox(args.host, args.emulator_port, args.api_port, args.folder))
    return 130


if __name__ == "__main__":
    sys.exit(main())
