"""Ledger rows by the charge or order they belong to."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tortoise import Tortoise

from models.infra.sql import execute
from models.kinds import Anomaly, EntryKind
from models.queries.history import LedgerLine, ledger_lines
from models.tables import LedgerEntry
from models.values import parse_order_id

CHUNK = 500  # ids per IN (…) query


def chunks(values: Sequence[object]) -> Iterable[list[object]]:
    for start in range(0, len(values), CHUNK):
        yield list(values[start : start + CHUNK])


@dataclass(frozen=True, slots=True)
class Topup:
    """A charge's top-up row: who paid, the Stars it credited, for which order (None when
    its payload named none of ours), and what was odd about it."""

    charge_id: str
    user_id: int
    amount: int
    order_id: uuid.UUID | None
    anomaly: Anomaly | None


async def find_topup(charge_id: str) -> Topup | None:
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT user_id, amount, order_id, anomaly FROM ledger_entries "
        "WHERE telegram_payment_charge_id = $1 AND kind = $2",
        charge_id,
        EntryKind.TOPUP.value,
    )
    if not rows:
        return None
    row = rows[0]
    return Topup(
        charge_id,
        int(row["user_id"]),
        int(row["amount"]),
        parse_order_id(str(row["order_id"])) if row["order_id"] else None,
        Anomaly(row["anomaly"]) if row["anomaly"] else None,
    )


async def is_refunded(charge_id: str) -> bool:
    return await LedgerEntry.exists(telegram_payment_charge_id=charge_id, kind=EntryKind.REFUND)


async def charge_entries(charge_id: str) -> list[LedgerLine]:
    return await ledger_lines("l.telegram_payment_charge_id = $1", charge_id)


async def order_entries(order_id: uuid.UUID) -> list[LedgerLine]:
    return await ledger_lines("l.order_id = $1", order_id)


async def recent_topups_and_refunds(user_id: int, limit: int) -> list[LedgerLine]:
    """The user's newest top-up and refund rows, newest first."""
    return await ledger_lines(
        "l.user_id = $1 AND l.kind IN ($2, $3)",
        user_id,
        EntryKind.TOPUP.value,
        EntryKind.REFUND.value,
        order="l.created_at DESC, l.id DESC",
        limit=limit,
    )


async def on_ledger(charge_ids: Iterable[str]) -> set[tuple[str, str]]:
    """(charge id, entry kind) of the given charges already on the ledger."""
    known: set[tuple[str, str]] = set()
    for chunk in chunks(sorted(set(charge_ids))):
        rows = await LedgerEntry.filter(telegram_payment_charge_id__in=chunk).values_list(
            "telegram_payment_charge_id", "kind"
        )
        known.update((str(charge), str(EntryKind(kind).value)) for charge, kind in rows)
    return known
