"""The money tests' fixture: the invariant check after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from models.queries.invariants import check_ledger


@pytest.fixture
async def ledger_holds(db: str) -> AsyncIterator[None]:
    """After the test each balance equals its ledger and each ledger is a chain."""
    yield
    report = await check_ledger()
    assert report.ok, report.render()
