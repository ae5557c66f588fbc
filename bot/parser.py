"""The command line of run_bot.py; light, so a bad setting is reported at once."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime


def _utc_date(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (use YYYY-MM-DD)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _signed(value: str) -> int:
    try:
        amount = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of Stars: {value!r}") from None
    if amount == 0:
        raise argparse.ArgumentTypeError("an adjustment of 0 changes nothing")
    return amount


def _actor(value: str) -> str:
    if not 1 <= len(value.strip()) <= 64 or not value.isprintable():
        raise argparse.ArgumentTypeError("--by must be 1 to 64 printable characters")
    return value.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_bot.py",
        description="The bot worker. Without a command it polls Telegram; "
        "the commands are operator tools.",
    )
    # `calls_telegram`: whether a command needs a Bot (bot/cli/telegram.py); the others
    # touch only the database (bot/cli/database.py) and never load aiogram.
    parser.set_defaults(calls_telegram=False)
    commands = parser.add_subparsers(dest="command", metavar="command")
    commands.add_parser("run", help="run the bot worker (the default)")
    check = commands.add_parser("check", help="prove balances, ledger and Telegram agree")
    check.add_argument(
        "--offline",
        action="store_false",
        dest="calls_telegram",
        help="skip the Bot API comparison",
    )
    check.set_defaults(calls_telegram=True)
    reconcile = commands.add_parser("reconcile", help="run one reconciliation pass now")
    reconcile.set_defaults(calls_telegram=True)
    reconcile.add_argument(
        "--full",
        action="store_true",
        help="read Telegram's whole history, not from where the last pass stopped",
    )
    backfill = commands.add_parser(
        "backfill",
        help="credit payments made before this database's deployment (reconciliation never does)",
        description="Credit the Stars payments Telegram lists from before this database's "
        "deployment that the ledger lacks (payments Telegram refunded are left out). "
        "Each is credited once, however often this runs.",
    )
    backfill.set_defaults(calls_telegram=True)
    backfill.add_argument(
        "--since",
        type=_utc_date,
        metavar="DATE",
        help="only payments made on or after DATE (YYYY-MM-DD or an ISO time; UTC)",
    )
    backfill.add_argument(
        "--dry-run", action="store_true", help="list what would be credited, change nothing"
    )
    backfill.add_argument(
        "--notify",
        action="store_true",
        help="also message each payer (off by default: old payments were settled long ago)",
    )
    user = commands.add_parser("user", help="a user's balance and ledger")
    user.add_argument("user_id", type=int)
    user.add_argument("--limit", type=int, default=20)
    order = commands.add_parser("order", help="an order and its ledger entries")
    order.add_argument("order_id")
    charge = commands.add_parser("charge", help="the ledger entries of a Telegram charge")
    charge.add_argument("charge_id")
    events = commands.add_parser(
        "events",
        help="balance events for the app's backend: list the undelivered, redeliver",
        description="Balance events waiting to reach EVENTS_URL, those given up on "
        "after three days, and sending abandoned ones again.",
    )
    actions = events.add_subparsers(dest="action", metavar="action")
    listing = actions.add_parser("list", help="undelivered and abandoned events (the default)")
    listing.add_argument("--limit", type=int, default=50, help="at most this many of each")
    redeliver = actions.add_parser("redeliver", help="send abandoned (or gone, 410) events again")
    target = redeliver.add_mutually_exclusive_group(required=True)
    target.add_argument("event_id", nargs="?", help="one abandoned event (evt_…)")
    target.add_argument("--all", action="store_true", help="every abandoned event")
    adjust = commands.add_parser(
        "adjust",
        help="correct a balance with an audited `adjustment` ledger row",
        description="Add (+N) or take (-N) Stars with an `adjustment` ledger row that "
        "records who made it and why; the app's backend gets a balance.adjusted event. "
        "A negative adjustment never takes the balance below zero unless --allow-negative.",
    )
    adjust.add_argument("user_id", type=int)
    adjust.add_argument("amount", type=_signed, help="+N or -N Stars")
    adjust.add_argument("--reason", required=True, help="why (kept on the ledger row)")
    adjust.add_argument(
        "--by", type=_actor, help="who is making it (default: $USER of this shell)"
    )
    adjust.add_argument(
        "--allow-negative",
        action="store_true",
        help="let the balance go below zero (say, Stars spent before a fraud was found)",
    )
    copy = commands.add_parser(
        "copy-database",
        help="copy this (stopped) SQLite database into an empty PostgreSQL one",
        description="Copy every row of DATABASE_URL (SQLite; every process stopped) into "
        "the empty PostgreSQL database at --to, which is migrated first: ids, the ledger, "
        "orders, charges, debits, events and cursors as they are, leases released, "
        "sequences past the largest ids. Refuses a target that holds any row; ends by "
        "running `check --offline` on the target.",
    )
    copy.add_argument("--to", required=True, metavar="URL", help="postgres://user:pass@host/db")
    gifts = commands.add_parser(
        "gifts",
        help="gift and Premium purchases: list, show, unsettled, settle by hand",
        description="Purchases of Telegram gifts and Premium from balances (docs/gifts.md).",
    )
    gift_actions = gifts.add_subparsers(dest="action", metavar="action")
    gift_list = gift_actions.add_parser("list", help="the newest purchases (the default)")
    gift_list.add_argument("--state", choices=["pending", "sent", "failed"])
    gift_list.add_argument("--limit", type=int, default=50)
    gift_actions.add_parser("unsettled", help="attempts whose outcome is not settled yet")
    gift_show = gift_actions.add_parser("show", help="one purchase")
    gift_show.add_argument("gift_id")
    gift_settle = gift_actions.add_parser(
        "settle", help="end a pending purchase by hand, once you know what Telegram did"
    )
    gift_settle.add_argument("gift_id")
    outcome = gift_settle.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--sent", action="store_true", help="Telegram made the purchase")
    outcome.add_argument("--failed", action="store_true", help="it did not: give the Stars back")
    gift_settle.add_argument("--transaction", help="its row's id in getStarTransactions")
    gift_settle.add_argument("--reason", help="why it failed, for the record")
    gift_settle.add_argument(
        "--force", action="store_true", help="--failed even while its call may be on the wire"
    )
    refund = commands.add_parser("refund", help="refund a charge through Telegram")
    refund.set_defaults(calls_telegram=True)
    refund.add_argument("charge_id")
    refund.add_argument("--force", action="store_true", help="even if the balance is lower")
    return parser
