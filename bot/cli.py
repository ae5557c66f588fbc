"""Operator commands of `run_bot.py`: the invariant check, reconciliation, backfill,
look-ups, refunds, balance events.

Each prints a readable table and exits non-zero when it fails.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from aiogram import Bot

from bot.own_stars import read_own_balance
from bot.reconcile import Reconciler, backfill, plan_backfill, telegram_record
from bot.refunding import refund_charge
from bot.texts import text
from models.events.delivery import parse_public_id, public_id
from models.events.operator import (
    EventLine,
    count_events,
    list_events,
    redeliver,
    redeliver_abandoned,
)
from models.events.outbox import events_on_since
from models.infra.db import apply_migrations, close_database, open_database
from models.infra.settings import Settings
from models.infra.telegram import make_bot
from models.queries.accounts import find_user, get_balance
from models.queries.charges import charge_entries, order_entries
from models.queries.history import MAX_PAGE, LedgerLine, ledger_page
from models.queries.invariants import check_ledger
from models.queries.orders import find_order
from models.reconciliation.deployment import paid_at
from models.reconciliation.transactions import Transaction
from models.tables import EventState, LedgerEntry
from models.values import parse_order_id


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[["" if v is None else str(v) for v in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ledger_rows(entries: Sequence[LedgerEntry]) -> list[list[object]]:
    return [
        [
            e.id,
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.kind,
            e.amount,
            e.telegram_payment_charge_id,
            e.order_id,
            e.anomaly or e.note,
        ]
        for e in entries
    ]


LEDGER_HEADERS = ("id", "time (UTC)", "kind", "amount", "charge", "order", "anomaly/note")


async def cmd_check(bot: Bot, args: argparse.Namespace) -> int:
    record = None if args.offline else await telegram_record(bot)
    report = await check_ledger(record)
    print(report.render())
    if not args.offline:
        own = await read_own_balance(bot)
        shown = "could not be read" if own is None else f"{own} ⭐"
        print(f"\nThe bot's own Stars (getMyStarBalance, refunds draw on them): {shown}")
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


async def cmd_user(bot: Bot, args: argparse.Namespace) -> int:
    user = await find_user(args.user_id)
    if user is None:
        print(f"no user {args.user_id}")
        return 1
    print(
        table(
            ("telegram id", "username", "name", "language", "balance"),
            [
                [
                    user.id,
                    user.username,
                    user.first_name,
                    user.language_code,
                    await get_balance(user.id),
                ]
            ],
        )
    )
    print()
    print(
        table(
            HISTORY_HEADERS,
            [
                [
                    e.id,
                    e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    e.kind,
                    e.amount,
                    e.stars_balance_after,
                    e.charge_id or e.debit_id,
                    e.order_id,
                    e.reason or e.anomaly or e.note,
                ]
                for e in await _history(user.id, args.limit)
            ],
        )
    )
    return 0


HISTORY_HEADERS = (
    "id",
    "time (UTC)",
    "kind",
    "amount",
    "balance after",
    "charge/debit",
    "order",
    "reason/anomaly/note",
)


async def _history(user_id: int, limit: int) -> list[LedgerLine]:
    """The user's newest `limit` ledger entries, a page at a time."""
    entries: list[LedgerLine] = []
    before = None
    while len(entries) < limit:
        page = await ledger_page(user_id, limit=min(MAX_PAGE, limit - len(entries)), before=before)
        entries.extend(page.entries)
        if page.next is None:
            break
        before = page.next
    return entries


async def cmd_order(bot: Bot, args: argparse.Namespace) -> int:
    order_id = parse_order_id(args.order_id)
    order = await find_order(order_id) if order_id else None
    if order is None:
        print(f"no order {args.order_id}")
        return 1
    print(
        table(
            ("order", "user", "amount", "status", "created", "expires", "paid", "charge"),
            [
                [
                    order.id,
                    order.user_id,
                    order.amount,
                    order.status,
                    order.created_at,
                    order.expires_at,
                    order.paid_at,
                    order.telegram_payment_charge_id,
                ]
            ],
        )
    )
    entries = await order_entries(order.id)
    print()
    print(table(LEDGER_HEADERS, _ledger_rows(entries)))
    return 0


async def cmd_charge(bot: Bot, args: argparse.Namespace) -> int:
    entries = await charge_entries(args.charge_id)
    if not entries:
        print(f"charge {args.charge_id} is not on the ledger")
        return 1
    print(
        table(
            ("user", *LEDGER_HEADERS),
            [[e.user_id, *row] for e, row in zip(entries, _ledger_rows(entries), strict=True)],
        )
    )
    return 0


async def cmd_refund(bot: Bot, args: argparse.Namespace) -> int:
    key, values = await refund_charge(bot, args.charge_id, force=args.force)
    print(text(None, key, **values))
    return 0 if key == "refund_recorded" else 1


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else ""


def _event_rows(lines: Sequence[EventLine]) -> list[list[object]]:
    return [
        [
            public_id(line.id),
            line.user_id,
            line.type,
            line.attempts,
            _when(line.created_at),
            _when(line.finished_at)
            if line.state is EventState.ABANDONED
            # A pending event without a time waits behind an earlier one of its user.
            else _when(line.next_attempt_at) or "after the user's earlier one",
            line.last_error,
        ]
        for line in lines
    ]


def _event_headers(when: str) -> tuple[str, ...]:
    return ("event", "user", "type", "attempts", "written (UTC)", when, "last error")


async def cmd_events(bot: Bot, args: argparse.Namespace) -> int:
    since = await events_on_since()
    if args.action == "redeliver":
        return await _redeliver(args, on=since is not None)
    counts = await count_events()
    state = (
        f"on since {since:%Y-%m-%d %H:%M:%S} UTC"
        if since
        else "off (no worker with EVENTS_URL has started since they were turned off)"
    )
    print(f"events: {state}")
    print(
        f"undelivered {counts[EventState.PENDING]}, abandoned {counts[EventState.ABANDONED]}, "
        f"delivered {counts[EventState.DELIVERED]}"
    )
    limit = getattr(args, "limit", 50)
    for title, state_, when in (
        ("undelivered, oldest first", EventState.PENDING, "next try (UTC)"),
        (
            "abandoned (`run_bot.py events redeliver --all` sends them again)",
            EventState.ABANDONED,
            "given up (UTC)",
        ),
    ):
        lines = await list_events([state_], limit)
        if lines:
            print(f"\n{title}:")
            print(table(_event_headers(when), _event_rows(lines)))
    return 0


async def _redeliver(args: argparse.Namespace, *, on: bool) -> int:
    later = "" if on else " (events are off: they go out once a worker with EVENTS_URL starts)"
    if args.all:
        count = await redeliver_abandoned()
        print(f"{count} abandoned event{'' if count == 1 else 's'} queued again{later}")
        return 0
    event_id = parse_public_id(args.event_id)
    if event_id is None or not await redeliver(event_id):
        print(f"{args.event_id} is not an abandoned event")
        return 1
    print(
        f"{public_id(event_id)} queued again; it goes after any earlier event of its user "
        f"still on its way{later}"
    )
    return 0


HANDLERS: dict[str, Callable[[Bot, argparse.Namespace], Awaitable[int]]] = {
    "check": cmd_check,
    "reconcile": cmd_reconcile,
    "backfill": cmd_backfill,
    "user": cmd_user,
    "order": cmd_order,
    "charge": cmd_charge,
    "refund": cmd_refund,
    "events": cmd_events,
}


async def run_command(settings: Settings, args: argparse.Namespace) -> int:
    await apply_migrations(settings.migration_url)
    await open_database(settings.database_url, pool_size=2)
    bot = make_bot(settings)
    try:
        return await HANDLERS[args.command](bot, args)
    finally:
        await bot.session.close()
        await close_database()
