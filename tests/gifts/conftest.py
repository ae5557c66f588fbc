"""The money tests' invariant check, for the gift tests too."""

from __future__ import annotations

from tests.models.conftest import ledger_holds

__all__ = ["ledger_holds"]
