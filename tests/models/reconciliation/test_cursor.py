"""The reconciliation cursor survives what job_state may hold."""

from __future__ import annotations

from models.reconciliation.cursor import ScanCursor


def test_a_cursor_reads_back_what_was_saved() -> None:
    cursor = ScanCursor(
        order="asc",
        watermark=1_700_000_000,
        count=250,
        anchor=("c" * 131, "in"),
        failing={"x|in": 2},
    )
    assert ScanCursor.load(cursor.dump()) == cursor


def test_an_empty_cursor_means_a_full_scan() -> None:
    cursor = ScanCursor.load({})
    assert (cursor.order, cursor.watermark, cursor.count, cursor.anchor) == (None, 0, 0, None)
    assert cursor.failing == {}


def test_unreadable_parts_are_dropped_not_trusted() -> None:
    cursor = ScanCursor.load(
        {"order": "sideways", "watermark": "9", "count": True, "anchor": "abc", "failing": [1]}
    )
    assert cursor == ScanCursor()


def test_a_cursor_from_before_the_anchor_was_kept_still_resumes_by_watermark() -> None:
    cursor = ScanCursor.load({"order": "desc", "watermark": 42, "failing": {"a|out": 1}})
    assert (cursor.order, cursor.watermark, cursor.failing) == ("desc", 42, {"a|out": 1})
