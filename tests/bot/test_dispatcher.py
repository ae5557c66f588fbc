"""The dispatcher keeps nothing per chat: no handler holds conversation state, so each
update goes without an FSM context (and its storage record) of its own."""

from __future__ import annotations

from aiogram.fsm.storage.memory import MemoryStorage

from tests.helpers import ALICE, BORIS
from tests.system import System


async def test_users_leave_no_state_behind(system: System) -> None:
    for user in (ALICE, BORIS):
        system.say(user, "/balance")
        await system.replies(user)
    await system.settle()
    storage = system.worker.dispatcher.fsm.storage
    assert isinstance(storage, MemoryStorage)
    # With the FSM on, MemoryStorage keeps a record for every chat it has seen, forever.
    assert dict(storage.storage) == {}
