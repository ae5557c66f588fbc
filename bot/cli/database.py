"""The operator commands that only read or write the database: `check --offline`,
`user`, `order`, `charge`, `events` and `adjust` (`copy-database` in
`bot.cli.copying`). Nothing here loads a Bot API library."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from bot.cli.copying import cmd_copy_database
from bot.cli.tables import table
from models.events.delivery import parse_public_id, public_id
from models.events.operator import (
    EventLine,
    count_events,
    list_events,
    redeliver,
    redeliver_abandoned,
)
from models.events.outbox import events_on_since
from models.kinds import EventState
from models.ledger.adjustments import adjust, adjustments_of
from models.queries.accounts import get_account
from models.queries.charges import charge_entries, order_entries
from models.queries.history import MAX_PAGE, LedgerLine, ledger_page
from models.queries.invariants import check_ledger
from models.queries.orders import find_order
from models.refusals import Refusal, Refused
from models.values import parse_order_id

LEDGER_HEADERS = ("id", "time (UTC)", "kind", "amount", "charge", "order", "anomaly/note")


def _ledger_rows(entries: Sequence[LedgerLine]) -> list[list[object]]:
    return [
        [
            e.id,
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.kind,
            e.amount,
            e.charge_id,
            e.order_id,
            e.anomaly or e.note,
        ]
        for e in entries
    ]


async def cmd_check(args: argparse.Namespace) -> int:
    """`check --offline`: the invariants the database alone can prove."""
    report = await check_ledger()
    print(report.render())
    return 0 if report.ok else 1


async def cmd_user(args: argparse.Namespace) -> int:
    account = await get_account(args.user_id)
    if account is None:
        print(f"no user {args.user_id}")
        return 1
    print(
        table(
            ("telegram id", "username", "name", "language", "balance"),
            [
                [
                    account.telegram_id,
                    account.username,
                    account.first_name,
                    account.language_code,
                    account.stars_balance,
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
                for e in await _history(account.telegram_id, args.limit)
            ],
        )
    )
    audited = await adjustments_of(account.telegram_id, args.limit)
    if audited:
        print("\nadjustments (who made them and why):")
        print(
            table(
                ("entry", "time (UTC)", "amount", "by", "reason"),
                [
                    [a.entry_id, f"{a.created_at:%Y-%m-%d %H:%M:%S}", a.amount, a.actor, a.reason]
                    for a in audited
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


async def cmd_order(args: argparse.Namespace) -> int:
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
                    order.charge_id,
                ]
            ],
        )
    )
    entries = await order_entries(order.id)
    print()
    print(table(LEDGER_HEADERS, _ledger_rows(entries)))
    return 0


async def cmd_charge(args: argparse.Namespace) -> int:
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
            if line.state in (EventState.ABANDONED, EventState.GONE)
            # A pending event without a time waits behind an earlier one of its user.
            else _when(line.next_attempt_at) or "after the user's earlier one",
            line.last_error,
        ]
        for line in lines
    ]


def _event_headers(when: str) -> tuple[str, ...]:
    return ("event", "user", "type", "attempts", "written (UTC)", when, "last error")


async def cmd_events(args: argparse.Namespace) -> int:
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
        # Only after a 410 Gone, which stops sending until the worker restarts.
        + (f", gone {counts[EventState.GONE]}" if counts[EventState.GONE] else "")
    )
    limit = getattr(args, "limit", 50)
    for title, state_, when in (
        ("undelivered, oldest first", EventState.PENDING, "next try (UTC)"),
        (
            "abandoned (`run_bot.py events redeliver --all` sends them again)",
            EventState.ABANDONED,
            "given up (UTC)",
        ),
        (
            "gone: the receiver answered 410 (fix EVENTS_URL, restart the worker, then "
            "`run_bot.py events redeliver --all`)",
            EventState.GONE,
            "answered 410 (UTC)",
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
        print(f"{args.event_id} is not an abandoned or gone event")
        return 1
    print(
        f"{public_id(event_id)} queued again; it goes after any earlier event of its user "
        f"still on its way{later}"
    )
    return 0


def operator_name(given: str | None) -> str:
    """Who is adjusting: --by, else the login of the shell running the command."""
    if given:
        return given
    try:
        return getpass.getuser()[:64] or "operator"
    except (KeyError, OSError):  # no $USER and no passwd entry (some containers)
        return "operator"


async def cmd_adjust(args: argparse.Namespace) -> int:
    actor = operator_name(args.by)
    try:
        result = await adjust(
            args.user_id, args.amount, args.reason, actor, allow_negative=args.allow_negative
        )
    except Refused as refused:
        facts = refused.facts
        if refused.code is Refusal.INSUFFICIENT_BALANCE:
            print(
                f"refused: user {args.user_id} has {facts.get('balance')} ⭐, so {args.amount} "
                "would take the balance below zero (--allow-negative does it anyway)"
            )
        elif refused.code is Refusal.USER_NOT_FOUND:
            print(f"refused: no user {args.user_id}")
        else:
            print(
                f"refused: {refused.code.value} (amount up to ±1000000, a reason of 1 to 200 "
                "characters)"
            )
        return 1
    item = result.adjustment
    print(
        f"adjusted user {item.user_id} by {item.amount:+} ⭐ (ledger entry {item.entry_id}, "
        f"by {item.actor}): balance now {item.stars_balance} ⭐"
    )
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
    "check": cmd_check,
    "user": cmd_user,
    "order": cmd_order,
    "charge": cmd_charge,
    "events": cmd_events,
    "adjust": cmd_adjust,
    "copy-database": cmd_copy_database,
}
