"""The bot worker: `python run_bot.py` polls Telegram; subcommands are operator tools."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.cli import add_commands, run_command
from bot.worker import run_worker
from models.logs import configure_logging
from models.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_bot.py", description=__doc__)
    add_commands(parser)
    args = parser.parse_args(argv)
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format, secrets=(settings.token,))
    if getattr(args, "handler", None) is None:
        asyncio.run(run_worker(settings))
        return 0
    return asyncio.run(run_command(settings, args))


if __name__ == "__main__":
    sys.exit(main())
