"""The two buyers of the money tests, as the core knows a user."""

from __future__ import annotations

from models.values import Profile

ALICE = Profile(id=1001, username="alice", first_name="Alice", language_code="en")
BOB = Profile(id=1002, username="bob", first_name="Bob", language_code="ru")
