"""Where reconciliation left off in Telegram's transaction list, and the rules of
reading it: where a pass starts, when it has read enough, what it remembers.

Telegram does not document the order of getStarTransactions (the server's source says
oldest first), so a pass detects it from the dates of a page and keeps a cursor in the
database (job_state): the newest date fully checked, and for oldest-first order also
the number of items seen and the last one, which is verified before the pass jumps
ahead. A mismatch means a full scan. The cursor never moves past an item that failed
to record, so the next pass tries it again; one that keeps failing is given up after
some passes (else a row the database always refuses would stall every later recovery).

Read tolerantly: a cursor written by an older version (or damaged by hand) loses the
parts it cannot read, which costs at most a full scan, never a payment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from models.reconciliation.transactions import PAGE, Transaction, whole

ListingOrder = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class ScanCursor:
    # The order Telegram lists transactions in, as last seen (None before the first).
    order: ListingOrder | None = None
    # Newest first: every transaction dated up to here was checked.
    watermark: int = 0
    # Oldest first: how many were checked, and the key of the last of them, which must
    # still be at that position for the next pass to resume there.
    count: int = 0
    anchor: tuple[str, ...] | None = None
    # Items that failed to record, by "|".join(key): passes in a row they failed.
    failing: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, raw: Mapping[str, Any]) -> ScanCursor:
        order = raw.get("order")
        anchor = raw.get("anchor")
        failing = raw.get("failing")
        return cls(
            order=order if order in ("asc", "desc") else None,
            watermark=whole(raw.get("watermark")) or 0,
            count=whole(raw.get("count")) or 0,
            anchor=tuple(str(part) for part in anchor) if isinstance(anchor, list) else None,
            failing=(
                {str(key): whole(value) or 0 for key, value in failing.items()}
                if isinstance(failing, Mapping)
                else {}
            ),
        )

    def dump(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "watermark": self.watermark,
            "count": self.count,
            "anchor": list(self.anchor) if self.anchor is not None else None,
            "failing": dict(self.failing),
        }

    def resumed_at(self, count: int, anchor: tuple[str, ...] | None) -> ScanCursor:
        return replace(self, count=count, anchor=anchor)


def failing_key(tx: Transaction) -> str:
    return "|".join(tx.key)


def listing_order(page: Sequence[Transaction]) -> ListingOrder | None:
    """The order a page lists transactions in, if its dates tell."""
    dates = [tx.date for tx in page if tx.date]
    if len(dates) < 2 or dates[0] == dates[-1]:
        return None
    return "asc" if dates[0] < dates[-1] else "desc"


def resume_offset(
    cursor: ScanCursor, first: Sequence[Transaction], order: ListingOrder | None, *, full: bool
) -> int | None:
    """Oldest first, with more than one page: the offset of the page that must still
    hold the cursor's anchor for the pass to start there. None: read from the start."""
    if order != "asc" or len(first) < PAGE or not cursor.count or full:
        return None
    return max(0, cursor.count - PAGE)


def anchored(cursor: ScanCursor, page: Sequence[Transaction], offset: int) -> bool:
    """The page read at `offset` still holds the anchor where the cursor left it."""
    index = cursor.count - 1 - offset
    return 0 <= index < len(page) and page[index].key == cursor.anchor


def read_enough(
    page: Sequence[Transaction], order: ListingOrder | None, *, stop_at: int, overlap: int
) -> bool:
    """Nothing after this page needs reading: it is the last page, or (newest first)
    it reaches `overlap` seconds below what an earlier pass checked."""
    if len(page) < PAGE:
        return True
    dates = [tx.date for tx in page if tx.date]
    return order != "asc" and bool(dates) and min(dates) < stop_at - overlap


def is_new(position: int, tx: Transaction, *, new_from: int | None, watermark: int) -> bool:
    """New to us (counted in metrics and logged once, not on every pass): past where
    an oldest-first pass resumed, or else dated after the watermark."""
    return position >= new_from if new_from is not None else tx.date > watermark


def count_failures(
    failed: Sequence[tuple[int, Transaction]], cursor: ScanCursor
) -> dict[int, tuple[Transaction, int]]:
    """Each item that failed to record (by position) with the passes in a row it has
    failed, this one included."""
    return {position: (tx, cursor.failing.get(failing_key(tx), 0) + 1) for position, tx in failed}


def next_cursor(
    cursor: ScanCursor,
    *,
    order: ListingOrder | None,
    seen: Sequence[tuple[int, Transaction]],
    read_to: int,
    complete: bool,
    failures: Mapping[int, tuple[Transaction, int]],
    give_up_after: int,
) -> ScanCursor:
    """What the next pass starts from: after everything this one read (`read_to`
    items, for oldest first), but never past an item that failed fewer than
    `give_up_after` passes in a row: it must be reached again."""
    watermark = cursor.watermark
    if complete:
        watermark = max([watermark, *(tx.date for _, tx in seen)])
    held = [(position, tx) for position, (tx, n) in failures.items() if n < give_up_after]
    if held:
        watermark = min(watermark, min(tx.date for _, tx in held) - 1)
    after = ScanCursor(
        order=order,
        watermark=watermark,
        failing={failing_key(tx): n for tx, n in failures.values()},
    )
    if order == "asc" and seen:
        count = min([read_to, *(position for position, _ in held)])
        before = dict(seen).get(count - 1)
        # With nothing read before it to anchor on, the next pass scans in full.
        if before is not None:
            after = after.resumed_at(count, before.key)
    return after
