"""The HTTP API for the Mini App: `stars-api [--workers N]` (or `python run_api.py` in a
checkout)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import structlog

from models.infra.bot_api import method_url
from models.infra.settings import Settings, load_settings
from models.infra.startup import EXIT_LISTEN, StartupError, check_databases, check_token

# Connections the kernel holds for us before we accept them. A spike opens hundreds
# at once; past aiohttp's default of 128 the kernel drops the rest, and their clients
# retry only after 1, 3 and 7 seconds. (Linux caps it at net.core.somaxconn, 4096.)
LISTEN_BACKLOG = 4096
# Why a bind fails: the port is taken, the address is not this machine's, or a port
# below 1024 without the right to it.
LISTEN_ERRORS = {errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES}


async def preflight(settings: Settings) -> None:
    """The databases answer and Telegram does not reject the token, before anything
    starts. Telegram out of reach is no reason to stop: the API serves all but new
    invoices without it (they fail, and say so, until it answers)."""
    await check_databases(settings.database_url, settings.database_direct_url)
    unreachable = await check_token(method_url(settings, "getMe"))
    if unreachable is not None:
        structlog.get_logger("api").warning("telegram.unreachable", error=unreachable)


def serve(reuse_port: bool) -> int:
    # Settings first: a bad value should stop us at once, before the heavy imports.
    settings = load_settings()

    from aiohttp import web

    from api.app import create_app
    from models.infra.logs import configure_logging, log_failure
    from models.infra.loop import allow_open_files, freeze_heap, new_event_loop

    configure_logging(
        settings.log_level, settings.log_format, secrets=settings.secrets, cache_loggers=True
    )
    try:
        asyncio.run(preflight(settings))
    except StartupError as failure:  # one line naming what and where; its own exit code
        print(failure.message, file=sys.stderr, flush=True)
        return failure.code
    allow_open_files()
    app = create_app(settings, migrate=True)

    async def started(_app: web.Application) -> None:
        freeze_heap()  # after everything above has loaded

    app.on_startup.append(started)
    # run_app stops on SIGINT and SIGTERM: it stops accepting, lets requests finish
    # for up to shutdown_timeout, then runs the cleanup contexts (bot, database).
    try:
        web.run_app(
            app,
            host=settings.api_host,
            port=settings.api_port,
            access_log=None,
            shutdown_timeout=10,
            reuse_port=reuse_port,
            backlog=LISTEN_BACKLOG,
            loop=new_event_loop(),
            print=lambda text: print(text, file=sys.stderr, flush=True),
        )
    except Exception as error:  # the port is taken, the database went away during the start
        if isinstance(error, OSError) and error.errno in LISTEN_ERRORS:
            print(
                f"listen error: cannot listen on {settings.api_host}:{settings.api_port} "
                f"(API_HOST, API_PORT): {os.strerror(error.errno or 0).lower()}",
                file=sys.stderr,
                flush=True,
            )
            return EXIT_LISTEN
        log_failure(structlog.get_logger("api"), "api.failed", error)
        return 1
    return 0


def supervise(workers: int) -> int:
    """Run `workers` processes sharing the port (SO_REUSEPORT: the kernel spreads
    connections) and pass SIGTERM/SIGINT on to them."""
    settings = load_settings()
    if not settings.is_postgres:
        print(
            "configuration error: --workers above 1 needs PostgreSQL in DATABASE_URL "
            "(SQLite allows one writer process at a time)",
            file=sys.stderr,
        )
        return 2
    # `-m api.main`, found where this module was found (an installed package or a
    # checkout run as `python run_api.py` from anywhere), whatever the working directory.
    home = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [home, os.environ.get("PYTHONPATH")]))
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "api.main", "--worker-process"],
            env={**os.environ, "PYTHONPATH": path},
        )
        for _ in range(workers)
    ]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(child.wait() for child in children)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    parser.add_argument("--worker-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker_process:
        return serve(reuse_port=True)
    if args.workers > 1:
        return supervise(args.workers)
    return serve(reuse_port=False)


if __name__ == "__main__":
    sys.exit(main())
