"""The operator commands that call Telegram: `check` (with Telegram's own ledger),
`reconcile`, `backfill` and `refund`. Only these build a Bot."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError

from bot.cli.tables import table
from bot.own_stars import read_own_balance
from bot.reconcile import Reconciler, backfill, plan_backfill, telegram_record
from bot.refunding import refund_charge, refunded_text
from bot.refusals import refusal_text
from models.gifts.store import pending_stars
from models.infra.settings import Settings
from models.infra.startup import EXIT_TELEGRAM
from models.infra.telegram import make_bot
from models.queries.accounts import balances_total
from models.queries.invariants import check_ledger
from models.reconciliation.deployment import paid_at
from models.reconciliation.transactions import Transaction
from models.refusals import Refused


async def cmd_check(bot: Bot, args: argparse.Namespace) -> int:
    try:
        record = await telegram_record(bot)
    except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as error:
        # What the database alone proves is still worth printing; then say what is missing.
        report = await check_ledger()
        print(report.render())
        print(
            f"\nNot checked: Telegram's side (its payments and refunds, the bot's own Stars): "
            f"Telegram could not be asked ({type(error).__name__}). The checks above used the "
            "database alone; run `check` again when Telegram answers."
        )
        return EXIT_TELEGRAM if report.ok else 1
    report = await check_ledger(record)
    print(report.render())
    own = await read_own_balance(bot)
    shown = "could not be read" if own is None else f"{own} ⭐"
    print(f"\nThe bot's own Stars (getMyStarBalance, refunds draw on them): {shown}")
    owed, pending = await balances_total(), await pending_stars()
    print(f"Users' balances together: {owed} ⭐; gift purchases pending: {pending} ⭐")
    if own is not None and own < owed + pending:
        print(
            f"  the bot holds {owed + pending - own} ⭐ less than it owes: it cannot honour "
            "every balance (gifts may be refused with bot_balance_low)"
        )
    return 0 if report.ok else 1


async def cmd_reconcile(bot: Bot, args: argparse.Namespace) -> int:
    summary = await Reconciler(bot).run_pass(full=args.full)
    if summary is None:
        print("another process holds the reconciliation lease; try again shortly")
        return 1
    print(
        table(
            (
                "checked",
                "credited",
                "refunds recorded",
                "anomalies",
                "skipped",
                "failed",
                "before deployment",
                "pages",
                "complete",
            ),
            [
                [
                    summary.checked,
                    summary.credited,
                    summary.refunds_recorded,
                    summary.anomalies,
                    summary.skipped,
                    summary.failed,
                    len(summary.before_deployment),
                    summary.pages,
                    summary.complete,
                ]
            ],
        )
    )
    if summary.before_deployment:
        print()
        print(
            "before deployment (not credited; `run_bot.py backfill --dry-run` shows what a "
            "backfill would credit):"
        )
        print(table(PAYMENT_HEADERS, [_payment_row(tx) for tx in summary.before_deployment]))
    return 0


PAYMENT_HEADERS = ("charge", "user", "amount", "paid (UTC)")


def _payment_row(tx: Transaction) -> list[object]:
    return [tx.id, tx.payer_id, tx.amount, f"{paid_at(tx):%Y-%m-%d %H:%M:%S}"]


async def cmd_backfill(bot: Bot, args: argparse.Namespace) -> int:
    plan = await plan_backfill(bot, args.since)
    scope = f"made before deployment on {plan.deployed_at:%Y-%m-%d %H:%M:%S} UTC"
    if args.since:
        scope += f" and since {args.since:%Y-%m-%d %H:%M:%S} UTC"
    refunded = (
        f" ({plan.refunded} refunded by Telegram: nothing to credit)" if plan.refunded else ""
    )
    total = sum(tx.amount for tx in plan.payments)
    count = f"{len(plan.payments)} payment{'' if len(plan.payments) == 1 else 's'} ({total} XTR)"
    if not plan.payments:
        print(f"nothing to credit: no payments {scope} are missing from the ledger{refunded}")
        return 0
    if args.dry_run:
        print(f"would credit {count} {scope}{refunded}:")
        print(table(PAYMENT_HEADERS, [_payment_row(tx) for tx in plan.payments]))
        print("dry run: nothing was credited")
        return 0
    results = await backfill(plan.payments, notify=args.notify)
    print(f"{count} {scope}{refunded}:")
    print(
        table(
            (*PAYMENT_HEADERS, "result"),
            [
                [
                    *_payment_row(tx),
                    f"failed: {result!r}" if isinstance(result, Exception) else result.status,
                ]
                for tx, result in results
            ],
        )
    )
    return 1 if any(isinstance(result, Exception) for _, result in results) else 0


async def cmd_refund(bot: Bot, args: argparse.Namespace) -> int:
    try:
        result = await refund_charge(bot, args.charge_id, force=args.force)
    except Refused as refused:
        print(refusal_text(None, refused))
        return 1
    print(refunded_text(None, args.charge_id, result))
    return 0


COMMANDS: dict[str, Callable[[Bot, argparse.Namespace], Awaitable[int]]] = {
    "check": cmd_check,
    "reconcile": cmd_reconcile,
    "backfill": cmd_backfill,
    "refund": cmd_refund,
}


async def run_with_bot(settings: Settings, args: argparse.Namespace) -> int:
    bot = make_bot(settings)
    try:
        return await COMMANDS[args.command](bot, args)
    finally:
        await bot.session.close()
