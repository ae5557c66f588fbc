"""Ledger rows by the charge or order they belong to."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from models.tables import EntryKind, LedgerEntry

CHUNK = 500  # ids per IN (…) query


def chunks(values: Sequence[object]) -> Iterable[list[object]]:
    for start in range(0, len(values), CHUNK):
        yield list(values[start : start + CHUNK])


async def find_topup(charge_id: str) -> LedgerEntry | None:
    """The top-up row of a charge: who paid, how much, for which order."""
    return await LedgerEntry.get_or_none(
        telegram_payment_charge_id=charge_id, kind=EntryKind.TOPUP
    )


async def is_refunded(charge_id: str) -> bool:
    return await LedgerEntry.exists(telegram_payment_charge_id=charge_id, kind=EntryKind.REFUND)


async def charge_entries(charge_id: str) -> list[LedgerEntry]:
    return await LedgerEntry.filter(telegram_payment_charge_id=charge_id).order_by("id")


async def order_entries(order_id: uuid.UUID) -> list[LedgerEntry]:
    return await LedgerEntry.filter(order_id=order_id).order_by("id")


async def recent_topups_and_refunds(user_id: int, limit: int) -> list[LedgerEntry]:
    """The user's newest top-up and refund rows, newest first."""
    return (
        await LedgerEntry.filter(user_id=user_id, kind__in=[EntryKind.TOPUP, EntryKind.REFUND])
        .order_by("-created_at", "-id")
        .limit(limit)
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
