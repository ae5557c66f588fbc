"""The command line of run_bot.py; light, so a bad setting is reported at once."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_bot.py",
        description="The bot worker. Without a command it polls Telegram; "
        "the commands are operator tools.",
    )
    commands = parser.add_subparsers(dest="command", metavar="command")
    commands.add_parser("run", help="run the bot worker (the default)")
    check = commands.add_parser("check", help="prove balances, ledger and Telegram agree")
    check.add_argument("--offline", action="store_true", help="skip the Bot API comparison")
    commands.add_parser("reconcile", help="run one reconciliation pass now")
    user = commands.add_parser("user", help="a user's balance and ledger")
    user.add_argument("user_id", type=int)
    user.add_argument("--limit", type=int, default=20)
    order = commands.add_parser("order", help="an order and its ledger entries")
    order.add_argument("order_id")
    charge = commands.add_parser("charge", help="the ledger entries of a Telegram charge")
    charge.add_argument("charge_id")
    refund = commands.add_parser("refund", help="refund a charge through Telegram")
    refund.add_argument("charge_id")
    refund.add_argument("--force", action="store_true", help="even if the balance is lower")
    return parser
