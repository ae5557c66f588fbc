"""The HTTP API for the Mini App: `python run_api.py`."""

from __future__ import annotations

import argparse
import sys

from models.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_api.py", description=__doc__)
    parser.parse_args(argv)
    # Settings first: a bad value should stop us at once, before the heavy imports.
    settings = load_settings()

    from aiohttp import web

    from api.app import create_app
    from models.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format, secrets=(settings.token,))
    app = create_app(settings, migrate=True)
    # run_app stops on SIGINT and SIGTERM: it stops accepting, lets requests finish
    # for up to shutdown_timeout, then runs the cleanup contexts (bot, database).
    web.run_app(
        app,
        host=settings.api_host,
        port=settings.api_port,
        access_log=None,
        shutdown_timeout=10,
        print=lambda text: print(text, file=sys.stderr, flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
