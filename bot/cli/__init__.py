"""Operator commands of `run_bot.py`: the invariant check, reconciliation, backfill,
look-ups, refunds, balance events.

Each prints a readable table and exits non-zero when it fails. Those that only read
or write the database (`bot.cli.database`) load no Bot API library and build no Bot,
so they answer at once; those that call Telegram (`bot.cli.telegram`) load aiogram
when they run. The parser (bot/parser.py) says which a command is (`calls_telegram`).
"""

from __future__ import annotations

import argparse

from models.infra.db import apply_migrations, close_database, open_database
from models.infra.settings import Settings


async def run_command(settings: Settings, args: argparse.Namespace) -> int:
    await apply_migrations(settings.migration_url)
    await open_database(settings.database_url, pool_size=2)
    try:
        if args.calls_telegram:
            from bot.cli.telegram import run_with_bot

            return await run_with_bot(settings, args)
        if args.command == "gifts":  # the one that needs settings (GIFT_CALL_TIMEOUT)
            from bot.cli.gifts import cmd_gifts

            return await cmd_gifts(settings, args)
        from bot.cli.database import COMMANDS

        return await COMMANDS[args.command](args)
    finally:
        await close_database()
