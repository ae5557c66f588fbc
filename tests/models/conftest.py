"""Shared by the money tests: two buyers, and the invariant check after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from models.queries.invariants import check_ledger
from models.values import Profile

ALICE = Profile(id=1001, username="alice", first_name="Alice", language_code="en")
BOB = Profile(id=1002, username="bob", first_name="Bob", language_code="ru")


@pytest.fixture
async def ledger_holds(db: str) -> AsyncIterator[None]:
    """After the test each balance equals its ledger and each ledger is a chain."""
    yield
    report = await check_ledger()
    assert report.ok, report.render()
