"""Idempotency keys (models.idempotency) as the IETF draft says: one outcome per key for
the retention period, a twin in flight refused at once, a claim whose holder died
lapses, and after the retention the key is a new request while what it made stays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from models import idempotency
from models.kinds import EntryKind
from models.ledger.debits import DEBIT_SCOPE, debit, fingerprint
from models.ledger.entries import apply_entry
from models.queries.accounts import get_balance
from models.refusals import Refusal, Refused
from models.tables import Debit, IdempotencyKey, LedgerEntry
from models.users import upsert_user
from models.values import utcnow
from tests.models.buyers import ALICE

DAY = timedelta(hours=24)


async def funded(stars: int) -> None:
    await upsert_user(ALICE)
    await apply_entry(ALICE.id, stars, EntryKind.DEV_CREDIT, note="test")


async def test_within_the_retention_a_key_replays_and_after_it_makes_a_new_debit(
    db: str,
) -> None:
    await funded(100)
    start = utcnow()
    first = await debit(ALICE.id, 10, "a gift", "k-1", now=start, retention=DAY)
    again = await debit(
        ALICE.id, 10, "a gift", "k-1", now=start + DAY - timedelta(seconds=1), retention=DAY
    )
    assert (again.replayed, again.debit) == (True, first.debit)
    with pytest.raises(Refused) as refused:  # another request within it: 422's refusal
        await debit(ALICE.id, 11, "a gift", "k-1", now=start + timedelta(hours=1))
    assert refused.value.code is Refusal.IDEMPOTENCY_KEY_REUSED
    later = await debit(ALICE.id, 12, "another", "k-1", now=start + DAY, retention=DAY)
    assert not later.replayed
    assert later.debit.id != first.debit.id
    assert await get_balance(ALICE.id) == 78
    # The first debit and its ledger row stay; the key now answers with the second.
    assert await Debit.filter(idempotency_key="k-1").count() == 2
    assert await LedgerEntry.filter(debit_id=first.debit.id).count() == 1
    replay = await debit(ALICE.id, 12, "another", "k-1", now=start + DAY, retention=DAY)
    assert (replay.replayed, replay.debit.id) == (True, later.debit.id)


async def test_a_twin_in_flight_is_refused_at_once_and_a_dead_holders_claim_lapses(
    db: str,
) -> None:
    await funded(100)
    now = utcnow()
    print_ = fingerprint(ALICE.id, 10, "a gift")
    claim = await idempotency.begin(DEBIT_SCOPE, "k-2", print_, now=now)
    assert isinstance(claim, idempotency.Claim)  # its holder dies here
    with pytest.raises(Refused) as refused:
        await debit(ALICE.id, 10, "a gift", "k-2", now=now + timedelta(seconds=5))
    assert refused.value.code is Refusal.IDEMPOTENCY_KEY_IN_FLIGHT
    assert refused.value.facts["retry_after"] == 1
    with pytest.raises(Refused) as refused:  # another request is a mismatch all the same
        await debit(ALICE.id, 99, "a gift", "k-2", now=now + timedelta(seconds=5))
    assert refused.value.code is Refusal.IDEMPOTENCY_KEY_REUSED
    late = now + idempotency.CLAIM_LEASE + timedelta(seconds=1)
    made = await debit(ALICE.id, 10, "a gift", "k-2", now=late)
    assert not made.replayed
    # Had the first holder lived, its transaction could not commit now.
    from tortoise.transactions import in_transaction

    with pytest.raises(idempotency.ClaimLost):
        async with in_transaction() as conn:
            await idempotency.complete(conn, claim, "never")
    assert await Debit.all().count() == 1
    assert await get_balance(ALICE.id) == 90


async def test_a_refused_debit_frees_its_key(db: str) -> None:
    await funded(5)
    with pytest.raises(Refused) as refused:
        await debit(ALICE.id, 10, "a gift", "k-3")
    assert refused.value.code is Refusal.INSUFFICIENT_BALANCE
    assert await IdempotencyKey.all().count() == 0
    with pytest.raises(Refused) as refused:
        await debit(123_456, 1, "a gift", "k-3")
    assert refused.value.code is Refusal.USER_NOT_FOUND
    assert await IdempotencyKey.all().count() == 0
    assert not (await debit(ALICE.id, 5, "a gift", "k-3")).replayed


async def test_pruning_drops_the_keys_past_their_retention_and_keeps_the_debits(
    db: str,
) -> None:
    await funded(100)
    start = utcnow()
    await debit(ALICE.id, 10, "old", "old-key", now=start - DAY - timedelta(minutes=1))
    await debit(ALICE.id, 10, "new", "new-key", now=start)
    assert await idempotency.prune(start, DAY) == 1
    assert [k.idempotency_key for k in await IdempotencyKey.all()] == ["new-key"]
    assert await Debit.all().count() == 2


async def test_scopes_keep_one_operations_keys_from_anothers(db: str) -> None:
    now = utcnow()
    first = await idempotency.begin("gift", "shared", "a", now=now)
    second = await idempotency.begin(DEBIT_SCOPE, "shared", "b", now=now)
    assert isinstance(first, idempotency.Claim)
    assert isinstance(second, idempotency.Claim)


async def test_a_request_slower_than_its_claim_rolls_back_and_leaves_the_key_to_its_twin(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request stalls past CLAIM_LEASE after claiming; a twin takes the key over;
    the first one's debit then cannot commit: it is refused as in flight, nothing moved."""
    await funded(100)
    now = utcnow()
    real_begin = idempotency.begin
    twin: list[idempotency.Claim | idempotency.Completed] = []

    async def stalled_begin(
        *args: Any, **kwargs: Any
    ) -> idempotency.Claim | idempotency.Completed:
        claim = await real_begin(*args, **kwargs)
        late = now + idempotency.CLAIM_LEASE + timedelta(seconds=1)
        twin.append(await real_begin(*args, **{**kwargs, "now": late}))
        return claim

    monkeypatch.setattr(idempotency, "begin", stalled_begin)
    with pytest.raises(Refused) as refused:
        await debit(ALICE.id, 10, "a gift", "slow", now=now)
    assert refused.value.code is Refusal.IDEMPOTENCY_KEY_IN_FLIGHT
    assert isinstance(twin[0], idempotency.Claim)  # the twin holds the key now
    assert await Debit.all().count() == 0
    assert await get_balance(ALICE.id) == 100


async def test_a_twin_taking_over_a_lapsed_claim_whose_holder_is_committing_replays_it(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the first request completed its key and then waits on the user's row
    past CLAIM_LEASE; a twin finds the claim lapsed and tries to take it over. It must
    wait for that transaction and then answer its debit, never make a second one."""
    if db != "postgres":
        pytest.skip("row locks: SQLite runs one writer at a time")
    import asyncio

    from tortoise.transactions import in_transaction

    from models.infra.sql import execute

    await funded(100)
    now = utcnow()
    completed = asyncio.Event()
    real_complete = idempotency.complete

    async def signalling_complete(*args: Any) -> None:
        await real_complete(*args)
        completed.set()

    monkeypatch.setattr(idempotency, "complete", signalling_complete)

    async def waiting_on_locks() -> int:
        async with in_transaction() as probe:
            _, rows = await execute(
                probe,
                "SELECT count(*) AS n FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()",
            )
        return int(rows[0]["n"])

    locked, unlock = asyncio.Event(), asyncio.Event()

    async def hold_the_users_row() -> None:  # a task: its transaction is its own
        async with in_transaction() as blocker:
            await execute(blocker, "SELECT id FROM users WHERE id = $1 FOR UPDATE", ALICE.id)
            locked.set()
            await unlock.wait()

    holder = asyncio.create_task(hold_the_users_row())
    await asyncio.wait_for(locked.wait(), 10)
    first = asyncio.create_task(debit(ALICE.id, 10, "a gift", "held", now=now))
    await asyncio.wait_for(completed.wait(), 10)
    late = now + idempotency.CLAIM_LEASE + timedelta(seconds=1)
    twin = asyncio.create_task(debit(ALICE.id, 10, "a gift", "held", now=late))
    for _ in range(200):  # the twin's takeover waits on the key's row
        if await waiting_on_locks() >= 2 or twin.done():
            break
        await asyncio.sleep(0.05)
    assert not twin.done()  # it waits on the first request's transaction
    unlock.set()
    await holder
    made, again = await first, await twin
    assert not made.replayed
    assert again.replayed
    assert again.debit.id == made.debit.id
    assert await Debit.all().count() == 1
    assert await get_balance(ALICE.id) == 90


async def test_a_debit_made_by_taking_over_a_dead_claim_is_held_for_the_whole_retention(
    db: str,
) -> None:
    """The key's first holder died having made nothing; a twin took the key over just
    before the retention counted from that claim ran out, and made the debit. A retry
    of the twin a minute later must answer it, not debit again: the retention counts
    from the request that holds the key's result."""
    await funded(100)
    start = utcnow() - 2 * DAY
    print_ = fingerprint(ALICE.id, 10, "a gift")
    claim = await idempotency.begin(DEBIT_SCOPE, "k-dead", print_, now=start, retention=DAY)
    assert isinstance(claim, idempotency.Claim)  # its holder dies here
    taken_over = start + DAY - timedelta(minutes=1)
    made = await debit(ALICE.id, 10, "a gift", "k-dead", now=taken_over, retention=DAY)
    assert not made.replayed
    retry = taken_over + timedelta(minutes=2)
    again = await debit(ALICE.id, 10, "a gift", "k-dead", now=retry, retention=DAY)
    assert again.replayed
    assert again.debit.id == made.debit.id
    assert await idempotency.prune(retry, DAY) == 0  # pruning keeps it held too
    assert await Debit.all().count() == 1
    assert await get_balance(ALICE.id) == 90
