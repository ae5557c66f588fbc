"""The reconciliation cursor survives what job_state may hold, and says where a pass
starts, when it has read enough and what the next one starts from."""

from __future__ import annotations

from models.reconciliation.cursor import (
    ScanCursor,
    anchored,
    count_failures,
    is_new,
    listing_order,
    next_cursor,
    read_enough,
    resume_offset,
)
from models.reconciliation.transactions import PAGE, Transaction, parse


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


def rows(dates: list[int], prefix: str = "t") -> list[Transaction]:
    return [
        parse({"id": f"{prefix}{i}", "date": d, "amount": 1, "receiver": {"type": "fragment"}})
        for i, d in enumerate(dates)
    ]


def test_the_listing_order_is_read_from_a_pages_dates_when_they_tell() -> None:
    assert listing_order(rows([1, 2, 3])) == "asc"
    assert listing_order(rows([3, 2, 1])) == "desc"
    assert listing_order(rows([5, 5])) is None
    assert listing_order(rows([5])) is None


def test_oldest_first_a_pass_resumes_where_the_anchor_still_is() -> None:
    page = rows(list(range(PAGE)))
    cursor = ScanCursor(order="asc", count=250, anchor=("t99", "out"))
    assert resume_offset(cursor, page, "asc", full=False) == 150
    assert resume_offset(cursor, page, "asc", full=True) is None
    assert resume_offset(cursor, page, "desc", full=False) is None
    assert resume_offset(cursor, page[:10], "asc", full=False) is None  # one page: read it
    assert resume_offset(ScanCursor(order="asc"), page, "asc", full=False) is None
    assert anchored(cursor, page, 150)  # item 249 is the anchor
    assert not anchored(cursor, page[:50], 150)  # the list got shorter
    assert not anchored(ScanCursor(count=250, anchor=("t98", "out")), page, 150)


def test_a_pass_has_read_enough_at_the_last_page_or_below_what_was_checked() -> None:
    full_page = rows([1000 + i for i in range(PAGE)])
    assert read_enough(full_page[:5], "asc", stop_at=0, overlap=600)
    assert not read_enough(full_page, "asc", stop_at=5000, overlap=600)
    newest_first = list(reversed(full_page))
    assert read_enough(newest_first, "desc", stop_at=2000, overlap=600)
    assert not read_enough(newest_first, "desc", stop_at=1500, overlap=600)


def test_an_item_is_new_past_the_resume_point_or_else_past_the_watermark() -> None:
    [tx] = rows([100])
    assert is_new(250, tx, new_from=250, watermark=0)
    assert not is_new(249, tx, new_from=250, watermark=0)
    assert is_new(0, tx, new_from=None, watermark=99)
    assert not is_new(0, tx, new_from=None, watermark=100)


def test_the_next_cursor_moves_past_what_was_read_but_never_past_a_held_failure() -> None:
    seen = list(enumerate(rows([10, 20, 30, 40])))
    done = next_cursor(
        ScanCursor(watermark=5),
        order="asc",
        seen=seen,
        read_to=4,
        complete=True,
        failures={},
        give_up_after=5,
    )
    assert (done.watermark, done.count, done.anchor, done.failing) == (40, 4, ("t3", "out"), {})

    stuck = seen[1][1]
    failures = count_failures([(1, stuck)], ScanCursor(failing={"t1|out": 2}))
    assert failures == {1: (stuck, 3)}
    held = next_cursor(
        ScanCursor(watermark=5),
        order="asc",
        seen=seen,
        read_to=4,
        complete=True,
        failures=failures,
        give_up_after=5,
    )
    # Resumes at the failure (position 1, anchored on the item before it).
    assert (held.watermark, held.count, held.anchor) == (19, 1, ("t0", "out"))
    assert held.failing == {"t1|out": 3}

    given_up = next_cursor(
        ScanCursor(watermark=5),
        order="desc",
        seen=seen,
        read_to=4,
        complete=True,
        failures={1: (stuck, 5)},
        give_up_after=5,
    )
    assert (given_up.watermark, given_up.count, given_up.failing) == (40, 0, {"t1|out": 5})


def test_an_incomplete_pass_keeps_the_watermark_and_a_failure_at_the_start_scans_in_full() -> None:
    seen = list(enumerate(rows([10, 20])))
    partial = next_cursor(
        ScanCursor(watermark=5),
        order="desc",
        seen=seen,
        read_to=2,
        complete=False,
        failures={},
        give_up_after=5,
    )
    assert partial.watermark == 5
    first_failed = next_cursor(
        ScanCursor(),
        order="asc",
        seen=seen,
        read_to=2,
        complete=True,
        failures={0: (seen[0][1], 1)},
        give_up_after=5,
    )
    assert (first_failed.count, first_failed.anchor) == (0, None)  # nothing to anchor on
