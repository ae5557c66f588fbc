"""The HTTP API for the Mini App: `python run_api.py [--workers N]`."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

from models.infra.settings import load_settings

# Connections the kernel holds for us before we accept them. A spike opens hundreds
# at once; past aiohttp's default of 128 the kernel drops the rest, and their clients
# retry only after 1, 3 and 7 seconds. (Linux caps it at net.core.somaxconn, 4096.)
LISTEN_BACKLOG = 4096


def serve(reuse_port: bool) -> int:
    # Settings first: a bad value should stop us at once, before the heavy imports.
    settings = load_settings()

    import structlog
    from aiohttp import web

    from api.app import create_app
    from models.infra.logs import configure_logging, log_failure
    from models.infra.loop import allow_open_files, freeze_heap, new_event_loop

    configure_logging(
        settings.log_level, settings.log_format, secrets=settings.secrets, cache_loggers=True
    )
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
    except Exception as error:  # the port is taken, the database is away at start, ...
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
    children = [
        subprocess.Popen([sys.executable, __file__, "--worker-process"]) for _ in range(workers)
    ]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(child.wait() for child in children)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_api.py", description=__doc__)
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
