"""Audited adjustments: `models.ledger.adjustments` and POST /service/users/{id}/adjustments,
on SQLite and PostgreSQL. Each one is an `adjustment` ledger row with who and why next to
it, its event for the app's backend, and `check` holds them like any other row."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from models.events.delivery import event_body
from models.events.outbox import switch_events
from models.ledger.adjustments import adjust, adjustments_of
from models.queries.accounts import get_balance
from models.queries.invariants import check_ledger
from models.refusals import Refusal, Refused
from models.tables import Adjustment, Event, LedgerEntry
from tests.api.test_service import fund
from tests.helpers import ALICE, BORIS, ClientFactory

KEY = "svc_" + "k" * 40
SUPPORT_KEY = "svc_" + "s" * 40
ALICE_ID = ALICE["id"]


@pytest.fixture(autouse=True)
async def ledger_holds(db: str) -> AsyncIterator[None]:
    yield
    report = await check_ledger()
    assert report.ok, report.render()


async def test_an_adjustment_is_a_ledger_row_with_who_and_why_and_an_event(db: str) -> None:
    await switch_events(True)
    await fund(ALICE, 100)
    result = await adjust(ALICE_ID, -30, "double-credited gift", "alice-ops")
    assert not result.replayed
    assert result.adjustment.stars_balance == 70
    assert await get_balance(ALICE_ID) == 70
    entry = await LedgerEntry.get(id=result.adjustment.entry_id)
    assert (entry.kind, entry.amount, entry.stars_balance_after) == ("adjustment", -30, 70)
    assert entry.note == "double-credited gift"
    [audit] = await adjustments_of(ALICE_ID)
    assert (audit.actor, audit.reason, audit.amount) == ("alice-ops", "double-credited gift", -30)
    event = await Event.get(entry_id=entry.id)
    body = json.loads(await event_body(event.id) or b"{}")
    assert body["type"] == "balance.adjusted"
    assert body["data"]["amount"] == -30
    assert body["data"]["reason"] == "double-credited gift"
    assert body["data"]["source"] == "operator"
    assert body["data"]["by"] == "alice-ops"


async def test_a_negative_adjustment_never_goes_below_zero_unless_allowed(db: str) -> None:
    await fund(ALICE, 10)
    with pytest.raises(Refused) as refused:
        await adjust(ALICE_ID, -11, "fraud", "ops")
    assert refused.value.code is Refusal.INSUFFICIENT_BALANCE
    assert refused.value.facts["balance"] == 10
    assert await get_balance(ALICE_ID) == 10
    assert not await Adjustment.all().count()
    result = await adjust(ALICE_ID, -11, "fraud", "ops", allow_negative=True)
    assert result.adjustment.stars_balance == -1
    assert await get_balance(ALICE_ID) == -1


async def test_a_positive_adjustment_raises_a_balance_below_zero_without_leave(db: str) -> None:
    # Below zero already (a chargeback taken with leave): a credit only raises the
    # balance, so it needs no allow_negative, as a debit's reversal needs none.
    await fund(ALICE, 10)
    await adjust(ALICE_ID, -15, "chargeback", "ops", allow_negative=True)
    result = await adjust(ALICE_ID, 3, "goodwill", "ops")
    assert result.adjustment.stars_balance == -2
    assert await get_balance(ALICE_ID) == -2
    # A debit-like correction on it is still refused without leave.
    with pytest.raises(Refused) as refused:
        await adjust(ALICE_ID, -1, "fraud", "ops")
    assert refused.value.code is Refusal.INSUFFICIENT_BALANCE
    assert await get_balance(ALICE_ID) == -2


@pytest.mark.parametrize("amount", [0, 1_000_001, -1_000_001, True, "5"])
async def test_bad_amounts_and_unknown_users_are_refused(db: str, amount: object) -> None:
    await fund(ALICE, 10)
    with pytest.raises(Refused) as refused:
        await adjust(ALICE_ID, amount, "x", "ops")  # type: ignore[arg-type]
    assert refused.value.code is Refusal.INVALID_ADJUSTMENT
    with pytest.raises(Refused) as refused:
        await adjust(424242, 5, "x", "ops")
    assert refused.value.code is Refusal.USER_NOT_FOUND
    assert await LedgerEntry.all().count() == 1


async def test_racing_requests_with_one_key_make_one_adjustment(db: str) -> None:
    await fund(ALICE, 10)
    results = await asyncio.gather(
        *(adjust(ALICE_ID, 5, "goodwill", "svc", idempotency_key="k-1") for _ in range(8))
    )
    assert sum(not r.replayed for r in results) == 1
    assert {r.adjustment.id for r in results} == {results[0].adjustment.id}
    assert await get_balance(ALICE_ID) == 15
    with pytest.raises(Refused) as refused:
        await adjust(ALICE_ID, 6, "goodwill", "svc", idempotency_key="k-1")
    assert refused.value.code is Refusal.IDEMPOTENCY_KEY_REUSED


async def test_the_service_endpoint_records_the_keys_label(make_client: ClientFactory) -> None:
    client = await make_client(service_api_keys=[KEY, f"support-desk:{SUPPORT_KEY}"])
    await fund(ALICE, 50)
    path = f"/service/users/{ALICE_ID}/adjustments"

    def post(body: object, key: str | None = "adj-1", token: str = SUPPORT_KEY):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return client.post(path, json=body, headers=headers)

    first = await post({"amount": 25, "reason": "lost in an outage"})
    assert first.status == 201, await first.text()
    answer = await first.json()
    assert (answer["amount"], answer["by"], answer["stars_balance"]) == (25, "support-desk", 75)
    again = await post({"amount": 25, "reason": "lost in an outage"})
    assert again.status == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await again.json())["adjustment_id"] == answer["adjustment_id"]
    assert await get_balance(ALICE_ID) == 75

    unlabelled = await post({"amount": 1, "reason": "x"}, key="adj-2", token=KEY)
    assert (await unlabelled.json())["by"].startswith("key-")
    assert KEY not in await unlabelled.text()

    refusals = [
        (await post({"amount": 25, "reason": "other"}), 422, "idempotency_key_reused"),
        (await post({"amount": -1000, "reason": "x"}, key="adj-3"), 422, "insufficient_balance"),
        (await post({"amount": 0, "reason": "x"}, key="adj-4"), 400, "invalid_amount"),
        (await post({"amount": 1, "reason": "x"}, key=None), 400, "missing_idempotency_key"),
        (await post({"amount": 1}, key="adj-5"), 400, "invalid_reason"),
        (await post({"amount": 1, "reason": "x"}, token="nope" * 10), 401, "invalid_service_key"),
        (
            await post({"amount": -1, "reason": "x", "allow_negative": "yes"}, key="adj-6"),
            400,
            "invalid_body",
        ),
    ]
    for response, status, code in refusals:
        assert (response.status, (await response.json())["error"]["code"]) == (status, code)
    negative = await post(
        {"amount": -1000, "reason": "chargeback", "allow_negative": True}, key="adj-7"
    )
    assert (await negative.json())["stars_balance"] == -924
    missing = await client.post(
        f"/service/users/{BORIS['id']}/adjustments",
        json={"amount": 1, "reason": "x"},
        headers={"Authorization": f"Bearer {KEY}", "Idempotency-Key": "adj-8"},
    )
    assert missing.status == 404
    assert [a.actor for a in await adjustments_of(ALICE_ID)][-1] == "support-desk"


def test_a_service_key_may_carry_a_label_for_the_audit_trail() -> None:
    from tests.helpers import make_settings

    bare_with_colon = "abc:" + "x" * 31  # too short after the colon to be label:key
    settings = make_settings(service_api_keys=f"support:{SUPPORT_KEY},{KEY},{bare_with_colon}")
    assert settings.service_keys == [SUPPORT_KEY, KEY, bare_with_colon]
    labels = settings.service_key_labels
    assert labels[0] == "support"
    assert labels[1].startswith("key-")
    assert labels[1][4:] not in KEY
    assert labels[2].startswith("key-")


async def test_the_adjustment_key_is_read_as_the_debits_key(make_client: ClientFactory) -> None:
    # The same header rules as debits (api/idempotency.py): "k" and k are one key, so
    # a client moving to the draft's quoted form retries into the same adjustment; a
    # header sent twice is refused rather than one of them silently chosen.
    client = await make_client(service_api_keys=[KEY])
    await fund(ALICE, 50)
    path = f"/service/users/{ALICE_ID}/adjustments"
    auth = ("Authorization", f"Bearer {KEY}")
    body = {"amount": 5, "reason": "goodwill"}
    bare = await client.post(path, json=body, headers=[auth, ("Idempotency-Key", "adj-q")])
    assert bare.status == 201, await bare.text()
    quoted = await client.post(path, json=body, headers=[auth, ("Idempotency-Key", '"adj-q"')])
    assert quoted.status == 201, await quoted.text()
    assert quoted.headers.get("Idempotent-Replayed") == "true"
    assert (await quoted.json())["adjustment_id"] == (await bare.json())["adjustment_id"]
    twice = await client.post(
        path, json=body, headers=[auth, ("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    )
    assert twice.status == 400
    assert (await twice.json())["error"]["code"] == "duplicate_idempotency_key"
    unclosed = await client.post(path, json=body, headers=[auth, ("Idempotency-Key", '"adj')])
    assert unclosed.status == 400
    assert (await unclosed.json())["error"]["code"] == "invalid_idempotency_key"
    assert await get_balance(ALICE_ID) == 55


async def test_adjustments_and_debits_racing_on_one_balance_keep_it_and_the_chain(
    db: str,
) -> None:
    from models.ledger.debits import debit

    await fund(ALICE, 100)

    async def one(index: int) -> int:
        try:
            if index % 3 == 0:
                return (
                    await adjust(ALICE_ID, -7, "fraud", "ops", idempotency_key=f"a{index}")
                ).adjustment.amount
            if index % 3 == 1:
                return (
                    await adjust(ALICE_ID, 4, "goodwill", "ops", idempotency_key=f"a{index}")
                ).adjustment.amount
            return -(await debit(ALICE_ID, 9, "item", f"d{index}")).debit.amount
        except Refused as refused:
            if refused.code is not Refusal.INSUFFICIENT_BALANCE:
                raise
            return 0

    moves = await asyncio.gather(*(one(i) for i in range(60)))
    balance = await get_balance(ALICE_ID)
    assert balance == 100 + sum(moves)
    assert balance >= 0
    entries = await LedgerEntry.filter(user_id=ALICE_ID).order_by("id")
    running = 0
    for entry in entries:
        running += entry.amount
        assert entry.stars_balance_after == running
        assert running >= 0
