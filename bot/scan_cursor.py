"""Where reconciliation left off in Telegram's transaction list, as stored in job_state.

Read tolerantly: a cursor written by an older version (or damaged by hand) loses the
parts it cannot read, which costs at most a full scan, never a payment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

ListingOrder = Literal["asc", "desc"]  # the order Telegram lists transactions in


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
            watermark=_whole_or_zero(raw.get("watermark")),
            count=_whole_or_zero(raw.get("count")),
            anchor=tuple(str(part) for part in anchor) if isinstance(anchor, list) else None,
            failing=(
                {str(key): _whole_or_zero(value) for key, value in failing.items()}
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


def _whole_or_zero(value: Any) -> int:
    """A whole number as stored, or 0 for anything else (a bool included)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
