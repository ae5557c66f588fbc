"""Spending the balance, on SQLite and PostgreSQL: debits happen once per key and never
below zero, reversals once per debit, and every ledger row is a link of its user's chain."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from models.kinds import EntryKind
from models.ledger.credits import credit_charge
from models.ledger.debits import DebitResult, debit, reverse_debit
from models.ledger.entries import apply_entry
from models.ledger.refunds import record_refund
from models.queries.accounts import get_account, get_balance
from models.queries.history import InvalidCursor, ledger_page
from models.queries.invariants import check_ledger
from models.refusals import Refusal, Refused
from models.tables import Debit as DebitRow
from models.tables import LedgerEntry
from models.users import upsert_user
from models.values import Charge, Profile
from tests.databases import through_pgbouncer
from tests.helpers import cid
from tests.models.buyers import ALICE, BOB

pytestmark = pytest.mark.usefixtures("ledger_holds")


async def funded(user: Profile, stars: int) -> None:
    await upsert_user(user)
    if stars:
        await apply_entry(user.id, stars, EntryKind.DEV_CREDIT, note="test")


async def test_a_debit_takes_stars_and_writes_a_ledger_row_with_the_balance_after(
    db: str,
) -> None:
    await funded(ALICE, 100)
    result = await debit(ALICE.id, 30, "a gift", "key-1")
    assert not result.replayed
    assert (result.debit.user_id, result.debit.amount, result.debit.reason) == (
        ALICE.id,
        30,
        "a gift",
    )
    assert result.debit.stars_balance == 70
    assert result.debit.reversed is False
    assert await get_balance(ALICE.id) == 70
    row = await LedgerEntry.get(debit_id=result.debit.id)
    assert (row.kind, row.amount, row.stars_balance_after) == (EntryKind.DEBIT, -30, 70)
    assert (await DebitRow.get(id=result.debit.id)).idempotency_key == "key-1"


@through_pgbouncer
async def test_a_hundred_concurrent_debits_of_ten_against_five_hundred_make_exactly_fifty(
    db: str,
) -> None:
    await funded(ALICE, 500)

    async def attempt(i: int) -> object:
        try:
            return await debit(ALICE.id, 10, "a gift", f"race-{i}")
        except Refused as refused:
            return refused

    outcomes = await asyncio.gather(*(attempt(i) for i in range(100)))
    refused = [o for o in outcomes if isinstance(o, Refused)]
    assert len(refused) == 50
    assert all(r.code is Refusal.INSUFFICIENT_BALANCE for r in refused)
    assert all(r.facts["balance"] == 0 for r in refused)
    assert await get_balance(ALICE.id) == 0
    assert await LedgerEntry.filter(kind=EntryKind.DEBIT).count() == 50
    assert await DebitRow.all().count() == 50
    afters: list[Any] = sorted(
        await LedgerEntry.filter(kind=EntryKind.DEBIT).values_list(
            "stars_balance_after", flat=True
        )
    )
    assert afters == list(range(0, 500, 10))


@through_pgbouncer
async def test_forty_concurrent_requests_with_one_key_make_one_debit(db: str) -> None:
    await funded(ALICE, 1000)

    async def until_answered() -> DebitResult:
        """A client's retry: a twin still in flight is refused at once, never waits."""
        while True:
            try:
                return await debit(ALICE.id, 25, "a gift", "one-key")
            except Refused as refused:
                if refused.code is not Refusal.IDEMPOTENCY_KEY_IN_FLIGHT:
                    raise
                await asyncio.sleep(0.01)

    results = await asyncio.gather(*(until_answered() for _ in range(40)))
    assert sum(not r.replayed for r in results) == 1
    assert len({r.debit for r in results}) == 1  # every answer is the first one
    assert results[0].debit.stars_balance == 975
    assert await get_balance(ALICE.id) == 975
    assert await DebitRow.all().count() == 1


async def test_a_replay_gives_the_first_answer_even_after_the_debit_was_reversed(
    db: str,
) -> None:
    await funded(ALICE, 100)
    first = await debit(ALICE.id, 40, "a gift", "replayed")
    await debit(ALICE.id, 10, "another", "other-key")
    await reverse_debit(first.debit.id)
    again = await debit(ALICE.id, 40, "a gift", "replayed")
    assert again.replayed
    assert again.debit == first.debit  # reversed False, balance 60 as first answered
    assert await get_balance(ALICE.id) == 90


async def test_a_replay_is_answered_even_when_the_balance_no_longer_covers_it(db: str) -> None:
    await funded(ALICE, 50)
    first = await debit(ALICE.id, 50, "all of it", "drained")
    again = await debit(ALICE.id, 50, "all of it", "drained")
    assert again.replayed
    assert again.debit == first.debit
    assert await get_balance(ALICE.id) == 0


@pytest.mark.parametrize(
    ("user", "amount", "reason"),
    [(ALICE, 41, "a gift"), (ALICE, 40, "another gift"), (BOB, 40, "a gift")],
    ids=["amount", "reason", "user"],
)
async def test_a_key_used_with_anything_else_is_refused_and_changes_nothing(
    db: str, user: Profile, amount: int, reason: str
) -> None:
    await funded(ALICE, 100)
    await funded(BOB, 100)
    await debit(ALICE.id, 40, "a gift", "used")
    with pytest.raises(Refused) as refused:
        await debit(user.id, amount, reason, "used")
    assert refused.value.code is Refusal.IDEMPOTENCY_KEY_REUSED
    assert (await get_balance(ALICE.id), await get_balance(BOB.id)) == (60, 100)
    assert await DebitRow.all().count() == 1


async def test_not_enough_stars_records_nothing_and_the_key_can_be_used_later(db: str) -> None:
    await funded(ALICE, 20)
    with pytest.raises(Refused) as refused:
        await debit(ALICE.id, 30, "a gift", "later")
    assert refused.value.code is Refusal.INSUFFICIENT_BALANCE
    assert (refused.value.facts["balance"], refused.value.facts["amount"]) == (20, 30)
    assert await DebitRow.all().count() == 0
    assert await LedgerEntry.filter(kind=EntryKind.DEBIT).count() == 0
    await apply_entry(ALICE.id, 10, EntryKind.DEV_CREDIT)
    result = await debit(ALICE.id, 30, "a gift", "later")
    assert not result.replayed
    assert result.debit.stars_balance == 0


async def test_an_unknown_user_is_refused_and_the_key_stays_free(db: str) -> None:
    with pytest.raises(Refused) as refused:
        await debit(4242, 1, "a gift", "nobody")
    assert refused.value.code is Refusal.USER_NOT_FOUND
    await funded(ALICE, 5)
    assert not (await debit(ALICE.id, 1, "a gift", "nobody")).replayed


@pytest.mark.parametrize(
    ("amount", "reason", "key", "code"),
    [
        (0, "r", "k", Refusal.INVALID_AMOUNT),
        (-5, "r", "k", Refusal.INVALID_AMOUNT),
        (1_000_001, "r", "k", Refusal.INVALID_AMOUNT),
        ("10", "r", "k", Refusal.INVALID_AMOUNT),
        (10.0, "r", "k", Refusal.INVALID_AMOUNT),
        (True, "r", "k", Refusal.INVALID_AMOUNT),
        (None, "r", "k", Refusal.INVALID_AMOUNT),
        (10, "", "k", Refusal.INVALID_REASON),
        (10, "x" * 201, "k", Refusal.INVALID_REASON),
        (10, 5, "k", Refusal.INVALID_REASON),
        (10, None, "k", Refusal.INVALID_REASON),
        (10, "nul\x00byte", "k", Refusal.INVALID_REASON),
        (10, "line\nbreak", "k", Refusal.INVALID_REASON),
        (10, "lone \ud800 surrogate", "k", Refusal.INVALID_REASON),
        (10, "r", "", Refusal.INVALID_IDEMPOTENCY_KEY),
        (10, "r", "k" * 129, Refusal.INVALID_IDEMPOTENCY_KEY),
        (10, "r", "clé", Refusal.INVALID_IDEMPOTENCY_KEY),
        (10, "r", "tab\tkey", Refusal.INVALID_IDEMPOTENCY_KEY),
    ],
)
async def test_every_bad_input_is_refused_with_its_code_and_changes_nothing(
    db: str, amount: object, reason: object, key: str, code: Refusal
) -> None:
    await funded(ALICE, 100)
    with pytest.raises(Refused) as refused:
        await debit(ALICE.id, amount, reason, key)  # type: ignore[arg-type]
    assert refused.value.code is code
    assert await get_balance(ALICE.id) == 100
    assert await DebitRow.all().count() == 0


async def test_the_limits_themselves_are_accepted(db: str) -> None:
    await funded(ALICE, 1_000_000)
    key = "".join(chr(c) for c in range(32, 127)) + "k" * 33  # every printable, 128 long
    result = await debit(ALICE.id, 1_000_000, "🎁" * 200, key)
    assert result.debit.stars_balance == 0


async def test_a_reversal_credits_once_and_answers_the_same_after(db: str) -> None:
    await funded(ALICE, 100)
    spent = await debit(ALICE.id, 30, "a gift", "to-reverse")
    first = await reverse_debit(spent.debit.id, "gift declined")
    assert first.reversed_now
    assert first.debit.reversed is True
    assert first.debit.stars_balance == 100
    assert (first.debit.id, first.debit.amount, first.debit.reason) == (
        spent.debit.id,
        30,
        "a gift",
    )
    await debit(ALICE.id, 5, "later spending", "after")
    again = await reverse_debit(spent.debit.id)
    assert not again.reversed_now
    assert again.debit == first.debit
    assert await get_balance(ALICE.id) == 95
    row = await LedgerEntry.get(debit_id=spent.debit.id, kind=EntryKind.DEBIT_REVERSAL)
    assert (row.amount, row.stars_balance_after) == (30, 100)


@through_pgbouncer
async def test_twenty_concurrent_reversals_of_one_debit_credit_once(db: str) -> None:
    await funded(ALICE, 100)
    spent = await debit(ALICE.id, 30, "a gift", "racing-reversals")
    results = await asyncio.gather(*(reverse_debit(spent.debit.id) for _ in range(20)))
    assert sum(r.reversed_now for r in results) == 1
    assert len({r.debit for r in results}) == 1
    assert await get_balance(ALICE.id) == 100


async def test_reversing_an_unknown_debit_is_refused(db: str) -> None:
    with pytest.raises(Refused) as refused:
        await reverse_debit(uuid.uuid4())
    assert refused.value.code is Refusal.DEBIT_NOT_FOUND


async def test_a_refund_after_spending_leaves_the_balance_negative_and_the_chain_valid(
    db: str,
) -> None:
    await upsert_user(ALICE)
    await credit_charge(Charge(cid("spent"), ALICE.id, 100, "no-order"))
    spent = await debit(ALICE.id, 80, "a gift", "before-refund")
    assert (await record_refund(cid("spent"))).balance == -80
    # Below zero, nothing can be spent until it is topped up again.
    with pytest.raises(Refused) as refused:
        await debit(ALICE.id, 1, "a gift", "while-negative")
    assert refused.value.code is Refusal.INSUFFICIENT_BALANCE
    assert refused.value.facts["balance"] == -80
    # A reversal still credits: it only raises the balance.
    assert (await reverse_debit(spent.debit.id)).debit.stars_balance == 0
    afters: list[Any] = (
        await LedgerEntry.filter(user_id=ALICE.id)
        .order_by("id")
        .values_list("stars_balance_after", flat=True)
    )
    assert afters == [100, 20, -80, 0]
    assert (await check_ledger()).ok


async def test_the_ledger_pages_newest_first_with_what_each_row_came_from(db: str) -> None:
    await upsert_user(ALICE)
    await credit_charge(Charge(cid("paged"), ALICE.id, 100, "no-order"))
    spent = await debit(ALICE.id, 30, "a gift", "paged-key")
    await reverse_debit(spent.debit.id, "declined")
    await apply_entry(ALICE.id, 7, EntryKind.ADJUSTMENT, note="goodwill")
    await funded(BOB, 1)  # someone else's rows never show

    entries = []
    page = await ledger_page(ALICE.id, limit=3)
    entries.extend(page.entries)
    assert page.next is not None
    page = await ledger_page(ALICE.id, limit=3, before=page.next)
    entries.extend(page.entries)
    assert page.next is None

    assert [(e.kind, e.amount, e.stars_balance_after) for e in entries] == [
        (EntryKind.ADJUSTMENT, 7, 107),
        (EntryKind.DEBIT_REVERSAL, 30, 100),
        (EntryKind.DEBIT, -30, 70),
        (EntryKind.TOPUP, 100, 100),
    ]
    adjustment, reversal, debited, topup = entries
    assert (debited.debit_id, debited.idempotency_key, debited.reason) == (
        str(spent.debit.id),
        "paged-key",
        "a gift",
    )
    assert (reversal.debit_id, reversal.reason) == (str(spent.debit.id), "declined")
    assert (topup.charge_id, topup.anomaly, topup.debit_id) == (
        cid("paged"),
        "unknown_order",
        None,
    )
    assert adjustment.debit_id is None
    assert adjustment.reason is None
    assert (await ledger_page(ALICE.id, limit=4)).next is None
    assert (await ledger_page(4242)).entries == []


@pytest.mark.parametrize("cursor", ["", "x", "0", "-1", "1.5", "99999999999999999999", "１"])
async def test_a_cursor_not_given_out_is_refused(db: str, cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        await ledger_page(ALICE.id, before=cursor)


async def test_the_account_shows_profile_and_balance(db: str) -> None:
    await funded(ALICE, 12)
    account = await get_account(ALICE.id)
    assert account is not None
    assert (account.telegram_id, account.stars_balance, account.username) == (
        ALICE.id,
        12,
        "alice",
    )
    assert await get_account(4242) is None


async def test_check_finds_a_broken_link_in_a_chain(db: str) -> None:
    await funded(ALICE, 100)
    spent = await debit(ALICE.id, 30, "a gift", "tampered")
    row = await LedgerEntry.get(debit_id=spent.debit.id)
    await LedgerEntry.filter(id=row.id).update(stars_balance_after=75)
    report = await check_ledger()
    assert not report.ok
    assert ("each user's ledger is a chain of balances", 2) in report.checks
    assert any(f"entry {row.id} (-30)" in problem for problem in report.problems)
    await LedgerEntry.filter(id=row.id).update(stars_balance_after=70)
