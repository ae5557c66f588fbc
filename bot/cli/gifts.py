"""`run_bot.py gifts`: gift and Premium purchases for the operator (database only).

`list` by state, `show` one, `unsettled` (attempts whose outcome is unknown, and sent
purchases whose ledger row is not known yet), and `settle` one by hand once the
operator knows what Telegram did (its `getStarTransactions`, the recipient): `--sent`
records it sent (with the row's id if known), `--failed` fails it and gives the Stars
back. Settling by hand ends only a pending purchase, once, like the worker does; and
`--failed` waits, as the worker does, until the attempt's call can no longer be on the
wire (GIFT_CALL_TIMEOUT plus 10 seconds), unless `--force`: failed while Telegram
may still make it, the gift would go out with its Stars back.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Sequence

from tortoise.exceptions import IntegrityError

from bot.cli.tables import table
from models.gifts.rules import IN_FLIGHT_MARGIN, may_be_on_the_wire
from models.gifts.store import GiftRecord, fail, get_gift, list_gifts, mark_sent, unsettled
from models.infra.settings import Settings
from models.kinds import GiftState
from models.values import utcnow

HEADERS = ("id", "state", "buyer", "to", "what", "stars", "attempts", "created", "row")


def _when(record: GiftRecord) -> str:
    return f"{record.created_at:%Y-%m-%d %H:%M:%S}"


def _rows(records: Sequence[GiftRecord]) -> list[list[object]]:
    return [
        [
            r.id,
            r.state.value,
            r.user_id,
            f"user {r.to.user_id}" if r.to.user_id is not None else f"chat {r.to.chat_id}",
            r.item.key,
            r.star_count,
            r.attempts,
            _when(r),
            (r.transaction_id or "")[:16],
        ]
        for r in records
    ]


async def cmd_gifts(settings: Settings, args: argparse.Namespace) -> int:
    action = args.action or "list"
    if action == "list":
        state = GiftState(args.state) if args.state else None
        print(table(HEADERS, _rows(await list_gifts(state, args.limit))))
        return 0
    if action == "unsettled":
        records = await unsettled(utcnow())
        print(table(HEADERS, _rows(records)))
        print(f"{len(records)} unsettled (the leading worker settles them from Telegram's ledger)")
        return 0
    try:
        gift_id = uuid.UUID(args.gift_id)
    except ValueError:
        print(f"{args.gift_id} is not a purchase id")
        return 1
    record = await get_gift(gift_id)
    if record is None:
        print(f"there is no purchase {gift_id}")
        return 1
    if action == "show":
        print(table(HEADERS, _rows([record])))
        for name in ("text", "idempotency_key", "attempt_started_at", "finished_at"):
            print(f"{name}: {getattr(record, name)}")
        print(f"failure_reason: {record.failure_reason}")
        print(f"transaction_id: {record.transaction_id}")
        return 0
    if args.sent and record.state is GiftState.PENDING and record.attempt_started_at is None:
        # Claimed before every call (or given back by a 429): Telegram was never asked,
        # so it cannot have made it. Sent, the buyer would pay for no gift.
        print(
            f"purchase {gift_id} was never sent to Telegram (no attempt began): it cannot "
            "have been made; --failed gives its Stars back"
        )
        return 1
    if (
        args.failed
        and not args.force
        and record.state is GiftState.PENDING
        and record.attempt_started_at is not None
        and may_be_on_the_wire(record.attempt_started_at, utcnow(), settings.gift_call_timeout)
    ):
        wait = settings.gift_call_timeout + IN_FLIGHT_MARGIN
        print(
            f"purchase {gift_id}'s call to Telegram may still be on the wire (its attempt "
            f"began at {record.attempt_started_at:%H:%M:%S}, under {wait:g} seconds ago): "
            "failed now, the gift could go out with its Stars back. Try again later, or "
            "--force if you know it was not made"
        )
        return 1
    if args.sent:
        try:
            done = await mark_sent(gift_id, args.transaction, how="settled")
        except IntegrityError:
            print(f"transaction {args.transaction} settles another purchase already")
            return 1
    else:
        reason = args.reason or "settled by the operator"
        done = await fail(gift_id, reason, label="operator")
    if not done:
        print(f"purchase {gift_id} is {record.state.value} already: nothing changed")
        return 1
    print(f"purchase {gift_id} is now {'sent' if args.sent else 'failed, its Stars given back'}")
    return 0
