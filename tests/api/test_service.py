"""The /service/… endpoints an app's backend calls to spend a balance, and GET /me/ledger,
against the real aiohttp server on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog

from models.infra.logs import configure_logging
from models.kinds import EntryKind
from models.ledger.entries import apply_entry
from models.queries.accounts import get_balance
from models.queries.invariants import check_ledger
from models.tables import Debit
from models.users import upsert_user
from models.values import Profile
from tests.databases import through_pgbouncer
from tests.helpers import ALICE, BORIS, TOKEN, ApiClient, ClientFactory, metric, tma

KEY = "svc_" + "k" * 40
OLD_KEY = "svc_" + "o" * 40
AUTH = {"Authorization": f"Bearer {KEY}"}
ALICE_ID = ALICE["id"]


def key(value: str) -> dict[str, str]:
    return {**AUTH, "Idempotency-Key": value}


@pytest.fixture(autouse=True)
async def ledger_holds(db: str) -> AsyncIterator[None]:
    """After every test each balance equals its ledger and each ledger is a chain."""
    yield
    report = await check_ledger()
    assert report.ok, report.render()


@pytest.fixture
async def service(make_client: ClientFactory) -> ApiClient:
    return await make_client(service_api_keys=[OLD_KEY, KEY])


async def fund(user: dict[str, Any], stars: int) -> None:
    await upsert_user(
        Profile(user["id"], user.get("username"), user["first_name"], user["language_code"])
    )
    await apply_entry(user["id"], stars, EntryKind.DEV_CREDIT, note="test")


async def error_code(response: Any) -> str:
    return str((await response.json())["error"]["code"])


async def test_without_service_keys_every_service_path_is_not_found(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    await fund(ALICE, 100)
    calls = [
        client.get(f"/service/users/{ALICE_ID}", headers=AUTH),
        client.post(f"/service/users/{ALICE_ID}/debits", json={}, headers=key("k")),
        client.get(f"/service/users/{ALICE_ID}/ledger", headers=AUTH),
        client.post(f"/service/debits/{uuid.uuid4()}/reversal", headers=AUTH),
        client.get("/service/anything", headers=AUTH),
    ]
    for call in calls:
        response = await call
        assert response.status == 404
        assert await error_code(response) == "not_found"
    assert await get_balance(ALICE_ID) == 100


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {KEY[:-1]}"},
        {"Authorization": f"Bearer {KEY}x"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": KEY},
        {"Authorization": "Bearer " + "ü" * 40},
    ],
    ids=["none", "empty", "short", "long", "basic", "no-scheme", "non-ascii"],
)
async def test_a_missing_or_wrong_key_is_refused(
    service: ApiClient, headers: dict[str, str]
) -> None:
    await fund(ALICE, 100)
    for response in (
        await service.get(f"/service/users/{ALICE_ID}", headers=headers),
        await service.post(
            f"/service/users/{ALICE_ID}/debits",
            json={"amount": 1, "reason": "r"},
            headers={**headers, "Idempotency-Key": "k"},
        ),
    ):
        assert response.status == 401
        assert await error_code(response) == "invalid_service_key"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await get_balance(ALICE_ID) == 100


async def test_mini_app_init_data_is_not_a_service_key_nor_a_key_init_data(
    service: ApiClient,
) -> None:
    response = await service.get(f"/service/users/{ALICE_ID}", headers=tma(ALICE))
    assert (response.status, await error_code(response)) == (401, "invalid_service_key")
    response = await service.get("/me/ledger", headers=AUTH)
    assert (response.status, await error_code(response)) == (401, "missing_init_data")


async def test_every_configured_key_is_accepted_while_one_is_rotated(service: ApiClient) -> None:
    await fund(ALICE, 1)
    for secret in (KEY, OLD_KEY):
        response = await service.get(
            f"/service/users/{ALICE_ID}", headers={"Authorization": f"bearer {secret}"}
        )
        assert response.status == 200


async def test_keys_never_reach_the_logs(
    service: ApiClient, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG", "json", secrets=(TOKEN,))
    try:
        await fund(ALICE, 10)
        await service.get(f"/service/users/{ALICE_ID}", headers=AUTH)
        await service.get(f"/service/users/{ALICE_ID}", headers={"Authorization": "Bearer x"})
        await service.post(
            f"/service/users/{ALICE_ID}/debits",
            json={"amount": 1, "reason": "r"},
            headers=key("logged?"),
        )
        logged = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
        import logging

        logging.getLogger().handlers.clear()
    assert '"request"' in logged  # the request log ran
    assert KEY not in logged
    assert KEY[4:20] not in logged


async def test_a_user_is_shown_with_balance_and_profile(service: ApiClient) -> None:
    await fund(ALICE, 70)
    response = await service.get(f"/service/users/{ALICE_ID}", headers=AUTH)
    assert response.status == 200
    body = await response.json()
    assert {k: v for k, v in body.items() if k != "created_at"} == {
        "telegram_id": ALICE_ID,
        "stars_balance": 70,
        "username": "alice",
        "first_name": "Alice",
        "language_code": "en",
    }
    assert body["created_at"].endswith("+00:00")


@pytest.mark.parametrize("user", ["4242", "abc", "0", "-5", "1.5", "99999999999999999999", "１"])
async def test_an_unknown_or_malformed_user_is_not_found(service: ApiClient, user: str) -> None:
    for call in (
        service.get(f"/service/users/{user}", headers=AUTH),
        service.get(f"/service/users/{user}/ledger", headers=AUTH),
        service.post(
            f"/service/users/{user}/debits", json={"amount": 1, "reason": "r"}, headers=key("u")
        ),
    ):
        response = await call
        assert response.status == 404
        assert await error_code(response) == "user_not_found"
    assert await Debit.all().count() == 0


async def test_a_debit_answers_with_the_balance_after_it(service: ApiClient) -> None:
    await fund(ALICE, 100)
    response = await service.post(
        f"/service/users/{ALICE_ID}/debits",
        json={"amount": 30, "reason": "a sticker pack"},
        headers=key("order-7781"),
    )
    assert response.status == 201
    assert "Idempotent-Replayed" not in response.headers
    body = await response.json()
    assert uuid.UUID(body.pop("debit_id"))
    assert body.pop("created_at").endswith("+00:00")
    assert body == {
        "telegram_id": ALICE_ID,
        "amount": 30,
        "reason": "a sticker pack",
        "stars_balance": 70,
        "reversed": False,
    }
    assert await get_balance(ALICE_ID) == 70


async def test_a_replay_gets_the_first_answer_byte_for_byte(service: ApiClient) -> None:
    await fund(ALICE, 100)
    path, body = f"/service/users/{ALICE_ID}/debits", {"amount": 30, "reason": "a gift"}
    first = await service.post(path, json=body, headers=key("retry-me"))
    first_text = await first.text()
    debit_id = json.loads(first_text)["debit_id"]
    await service.post(f"/service/debits/{debit_id}/reversal", headers=AUTH)
    again = await service.post(path, json=body, headers=key("retry-me"))
    assert again.status == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await again.text() == first_text
    assert await get_balance(ALICE_ID) == 100  # debited once, reversed once


@pytest.mark.parametrize(
    ("user", "body"),
    [
        (ALICE, {"amount": 31, "reason": "a gift"}),
        (ALICE, {"amount": 30, "reason": "another"}),
        (BORIS, {"amount": 30, "reason": "a gift"}),
    ],
    ids=["amount", "reason", "user"],
)
async def test_a_key_reused_for_anything_else_is_422(
    service: ApiClient, user: dict[str, Any], body: dict[str, Any]
) -> None:
    await fund(ALICE, 100)
    await fund(BORIS, 100)
    first = await service.post(
        f"/service/users/{ALICE_ID}/debits",
        json={"amount": 30, "reason": "a gift"},
        headers=key("shared"),
    )
    assert first.status == 201
    response = await service.post(
        f"/service/users/{user['id']}/debits", json=body, headers=key("shared")
    )
    assert response.status == 422  # the draft's status: not retried by a generic client
    assert await error_code(response) == "idempotency_key_reused"
    assert (await get_balance(ALICE_ID), await get_balance(BORIS["id"])) == (70, 100)


async def test_not_enough_stars_is_422_and_records_nothing(service: ApiClient) -> None:
    await fund(ALICE, 20)
    path = f"/service/users/{ALICE_ID}/debits"
    response = await service.post(path, json={"amount": 30, "reason": "r"}, headers=key("k1"))
    assert response.status == 422  # not 409: a generic client retries that
    error = (await response.json())["error"]
    assert (error["code"], error["stars_balance"]) == ("insufficient_balance", 20)
    assert await Debit.all().count() == 0
    await apply_entry(ALICE_ID, 10, EntryKind.DEV_CREDIT)
    response = await service.post(path, json={"amount": 30, "reason": "r"}, headers=key("k1"))
    assert response.status == 201
    assert "Idempotent-Replayed" not in response.headers


BAD_DEBITS = [
    ({"Idempotency-Key": None}, {"amount": 1, "reason": "r"}, "missing_idempotency_key"),
    ({"Idempotency-Key": ""}, {"amount": 1, "reason": "r"}, "invalid_idempotency_key"),
    ({"Idempotency-Key": "k" * 129}, {"amount": 1, "reason": "r"}, "invalid_idempotency_key"),
    ({"Idempotency-Key": "clé"}, {"amount": 1, "reason": "r"}, "invalid_idempotency_key"),
    ({}, b"{not json", "invalid_json"),
    ({}, b"\xff\xfe", "invalid_json"),
    ({}, b"[" * 50_000, "invalid_json"),
    ({}, b"", "invalid_json"),
    ({}, [1, 2], "invalid_body"),
    ({}, "text", "invalid_body"),
    ({}, {"reason": "r"}, "invalid_amount"),
    ({}, {"amount": "10", "reason": "r"}, "invalid_amount"),
    ({}, {"amount": 10.5, "reason": "r"}, "invalid_amount"),
    ({}, {"amount": 10.0, "reason": "r"}, "invalid_amount"),
    ({}, {"amount": True, "reason": "r"}, "invalid_amount"),
    ({}, {"amount": None, "reason": "r"}, "invalid_amount"),
    ({}, {"amount": 0, "reason": "r"}, "invalid_amount"),
    ({}, {"amount": -10, "reason": "r"}, "invalid_amount"),
    ({}, {"amount": 1_000_001, "reason": "r"}, "invalid_amount"),
    ({}, b'{"amount": 1' + b"0" * 5000 + b', "reason": "r"}', "invalid_json"),
    ({}, {"amount": 1}, "invalid_reason"),
    ({}, {"amount": 1, "reason": ""}, "invalid_reason"),
    ({}, {"amount": 1, "reason": "x" * 201}, "invalid_reason"),
    ({}, {"amount": 1, "reason": 7}, "invalid_reason"),
    ({}, {"amount": 1, "reason": ["r"]}, "invalid_reason"),
    ({}, {"amount": 1, "reason": "nul \u0000"}, "invalid_reason"),
    ({}, b'{"amount": 1, "reason": "\\ud800"}', "invalid_reason"),
]


@pytest.mark.parametrize(("headers", "body", "code"), BAD_DEBITS)
async def test_every_bad_debit_request_is_a_400_with_its_code(
    service: ApiClient, headers: dict[str, str | None], body: object, code: str
) -> None:
    await fund(ALICE, 100)
    sent = {**AUTH, "Idempotency-Key": "bad-input", **headers}
    sent = {name: value for name, value in sent.items() if value is not None}
    options: dict[str, Any] = (
        {"data": body, "headers": {**sent, "Content-Type": "application/json"}}
        if isinstance(body, bytes)
        else {"json": body, "headers": sent}
    )
    response = await service.post(f"/service/users/{ALICE_ID}/debits", **options)
    assert response.status == 400, await response.text()
    assert await error_code(response) == code
    assert await get_balance(ALICE_ID) == 100
    assert await Debit.all().count() == 0


async def test_a_hundred_concurrent_debits_of_ten_against_five_hundred(
    service: ApiClient,
) -> None:
    await fund(ALICE, 500)
    responses = await asyncio.gather(
        *(
            service.post(
                f"/service/users/{ALICE_ID}/debits",
                json={"amount": 10, "reason": "a gift"},
                headers=key(f"burst-{i}"),
            )
            for i in range(100)
        )
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] * 50 + [422] * 50
    codes = {await error_code(r) for r in responses if r.status == 422}
    assert codes == {"insufficient_balance"}
    afters = sorted([(await r.json())["stars_balance"] for r in responses if r.status == 201])
    assert afters == list(range(0, 500, 10))
    assert await get_balance(ALICE_ID) == 0


@through_pgbouncer
async def test_a_debit_racing_the_users_first_sign_in_is_refused_never_a_500(
    service: ApiClient,
) -> None:
    """Each new user opens the Mini App (GET /me creates them) while the app's backend
    sends a debit for them: the debit finds no user, or a balance of 0, whichever the
    race gives; never an error of ours."""
    users = [
        {"id": 700_000 + n, "first_name": f"New {n}", "language_code": "en"} for n in range(300)
    ]

    async def sign_in_and_debit(user: dict[str, Any]) -> None:
        sign_in = service.get("/me", headers=tma(user))
        spend = service.post(
            f"/service/users/{user['id']}/debits",
            json={"amount": 1, "reason": "a gift"},
            headers=key(f"first-{user['id']}"),
        )
        # Sent in both orders: the debit's INSERT may come before the user's or after.
        if user["id"] % 2:
            signed_in, debited = await asyncio.gather(sign_in, spend)
        else:
            debited, signed_in = await asyncio.gather(spend, sign_in)
        assert signed_in.status == 200
        if debited.status == 404:
            assert await error_code(debited) == "user_not_found"
        else:
            assert debited.status == 422, await debited.text()
            assert await error_code(debited) == "insufficient_balance"

    await asyncio.gather(*(sign_in_and_debit(user) for user in users))
    assert await Debit.all().count() == 0


async def test_forty_concurrent_requests_with_one_key_make_one_debit(service: ApiClient) -> None:
    """Twins of a request still being worked on are answered 409 at once (nobody waits
    on a lock); sent again, unchanged, they get the first answer."""
    await fund(ALICE, 500)

    def send() -> Any:
        return service.post(
            f"/service/users/{ALICE_ID}/debits",
            json={"amount": 10, "reason": "a gift"},
            headers=key("the-same-key"),
        )

    responses = await asyncio.gather(*(send() for _ in range(40)))
    assert {r.status for r in responses} <= {201, 409}
    for response in responses:
        if response.status == 409:
            assert await error_code(response) == "idempotency_key_in_flight"
            assert response.headers["Retry-After"] == "1"
    made = [r for r in responses if r.status == 201 and "Idempotent-Replayed" not in r.headers]
    assert len(made) == 1
    first = await made[0].text()
    again = await asyncio.gather(*(send() for r in responses if r.status == 409))
    for response in [*again, *(r for r in responses if r.status == 201)]:
        assert response.status == 201
        assert await response.text() == first
    replayed = [r.headers.get("Idempotent-Replayed") for r in [*responses, *again]]
    assert replayed.count("true") == 39  # every answer but the first
    assert await get_balance(ALICE_ID) == 490
    assert await Debit.all().count() == 1


async def test_a_reversal_is_201_once_then_200_with_the_same_body(service: ApiClient) -> None:
    await fund(ALICE, 100)
    spent = await service.post(
        f"/service/users/{ALICE_ID}/debits",
        json={"amount": 30, "reason": "a gift"},
        headers=key("reverse-me"),
    )
    debit = await spent.json()
    path = f"/service/debits/{debit['debit_id']}/reversal"
    first = await service.post(path, json={"reason": "not delivered"}, headers=AUTH)
    assert first.status == 201
    body = await first.json()
    assert body == {**debit, "reversed": True, "stars_balance": 100}
    again = await service.post(path, headers=AUTH)  # no body at all
    assert again.status == 200
    assert await again.json() == body
    assert await get_balance(ALICE_ID) == 100


@pytest.mark.parametrize("debit_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
async def test_reversing_an_unknown_debit_is_not_found(service: ApiClient, debit_id: str) -> None:
    response = await service.post(f"/service/debits/{debit_id}/reversal", headers=AUTH)
    assert response.status == 404
    assert await error_code(response) == "debit_not_found"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{oops", "invalid_json"),
        (b"[]", "invalid_body"),
        (b'{"reason": ""}', "invalid_reason"),
        (b'{"reason": 5}', "invalid_reason"),
        (b'{"reason": "' + b"x" * 201 + b'"}', "invalid_reason"),
    ],
)
async def test_a_bad_reversal_body_is_a_400_and_reverses_nothing(
    service: ApiClient, body: bytes, code: str
) -> None:
    await fund(ALICE, 100)
    spent = await service.post(
        f"/service/users/{ALICE_ID}/debits",
        json={"amount": 30, "reason": "a gift"},
        headers=key("keep"),
    )
    debit_id = (await spent.json())["debit_id"]
    response = await service.post(
        f"/service/debits/{debit_id}/reversal",
        data=body,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status == 400
    assert await error_code(response) == code
    assert await get_balance(ALICE_ID) == 70


async def entries_of(
    client: ApiClient, path: str, headers: dict[str, str], limit: int
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    url = f"{path}?limit={limit}"
    while True:
        response = await client.get(url, headers=headers)
        assert response.status == 200
        page = await response.json()
        assert len(page["entries"]) <= limit
        entries.extend(page["entries"])
        if page["next"] is None:
            return entries
        url = f"{path}?limit={limit}&before={page['next']}"


async def test_the_ledger_pages_newest_first_for_the_service_and_the_mini_app(
    service: ApiClient,
) -> None:
    await fund(ALICE, 100)
    await fund(BORIS, 5)
    spent = await service.post(
        f"/service/users/{ALICE_ID}/debits",
        json={"amount": 30, "reason": "a gift"},
        headers=key("paged"),
    )
    debit_id = (await spent.json())["debit_id"]
    await service.post(
        f"/service/debits/{debit_id}/reversal", json={"reason": "declined"}, headers=AUTH
    )
    for i in range(3):
        await service.post(
            f"/service/users/{ALICE_ID}/debits",
            json={"amount": 1, "reason": f"sticker {i}"},
            headers=key(f"sticker-{i}"),
        )

    by_service = await entries_of(service, f"/service/users/{ALICE_ID}/ledger", AUTH, 2)
    by_user = await entries_of(service, "/me/ledger", tma(ALICE), 4)
    assert by_service == by_user
    assert [(e["kind"], e["amount"], e["stars_balance_after"]) for e in by_service] == [
        ("debit", -1, 97),
        ("debit", -1, 98),
        ("debit", -1, 99),
        ("debit_reversal", 30, 100),
        ("debit", -30, 70),
        ("dev_credit", 100, 100),
    ]
    reversal, debit, credit = by_service[3], by_service[4], by_service[5]
    assert set(debit) == {
        "id",
        "kind",
        "amount",
        "stars_balance_after",
        "created_at",
        "debit_id",
        "idempotency_key",
        "reason",
    }
    assert (debit["debit_id"], debit["idempotency_key"], debit["reason"]) == (
        debit_id,
        "paged",
        "a gift",
    )
    assert (reversal["debit_id"], reversal["reason"]) == (debit_id, "declined")
    assert set(credit) == {"id", "kind", "amount", "stars_balance_after", "created_at"}
    default = await (await service.get("/me/ledger", headers=tma(ALICE))).json()
    assert len(default["entries"]) == 6
    assert default["next"] is None
    nobody = await service.get("/me/ledger", headers=tma({**ALICE, "id": 4242}))
    assert await nobody.json() == {"entries": [], "next": None}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "invalid_limit"),
        ("limit=101", "invalid_limit"),
        ("limit=-1", "invalid_limit"),
        ("limit=ten", "invalid_limit"),
        ("limit=" + "9" * 5000, "invalid_limit"),
        ("limit=", "invalid_limit"),
        ("before=", "invalid_cursor"),
        ("before=abc", "invalid_cursor"),
        ("before=0", "invalid_cursor"),
        ("before=99999999999999999999", "invalid_cursor"),
    ],
)
async def test_a_bad_page_request_is_a_400(service: ApiClient, query: str, code: str) -> None:
    await fund(ALICE, 1)
    for path, headers in (
        (f"/service/users/{ALICE_ID}/ledger", AUTH),
        ("/me/ledger", tma(ALICE)),
    ):
        response = await service.get(f"{path}?{query}", headers=headers)
        assert response.status == 400, path
        assert await error_code(response) == code


async def test_debits_refusals_replays_and_reversals_are_counted(service: ApiClient) -> None:
    async def scrape() -> str:
        return await (await service.get("/metrics")).text()

    await fund(ALICE, 50)
    before = await scrape()
    path = f"/service/users/{ALICE_ID}/debits"
    spent = await service.post(path, json={"amount": 40, "reason": "r"}, headers=key("m1"))
    await service.post(path, json={"amount": 40, "reason": "r"}, headers=key("m1"))
    await service.post(path, json={"amount": 41, "reason": "r"}, headers=key("m1"))
    await service.post(path, json={"amount": 40, "reason": "r"}, headers=key("m2"))
    debit_id = (await spent.json())["debit_id"]
    await service.post(f"/service/debits/{debit_id}/reversal", headers=AUTH)
    after = await scrape()

    def moved(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert moved("stars_debits_total") == 1
    assert moved("stars_debited_stars_total") == 40
    assert moved("stars_debit_replays_total") == 1
    assert moved("stars_debit_refusals_total", reason="idempotency_key_reused") == 1
    assert moved("stars_debit_refusals_total", reason="insufficient_balance") == 1
    assert moved("stars_debit_reversals_total") == 1


async def test_a_quoted_key_is_the_same_key_as_the_bare_one(service: ApiClient) -> None:
    """The draft writes the key as a Structured Field string; the bare form still works."""
    await fund(ALICE, 100)
    path = f"/service/users/{ALICE_ID}/debits"
    body = {"amount": 10, "reason": "a gift"}
    first = await service.post(path, json=body, headers=key('"8e03978e-40d5"'))
    assert first.status == 201
    bare = await service.post(path, json=body, headers=key("8e03978e-40d5"))
    assert (bare.status, bare.headers.get("Idempotent-Replayed")) == (201, "true")
    assert await bare.json() == await first.json()
    escaped = await service.post(path, json=body, headers=key(r'"a\"b\\c"'))
    assert escaped.status == 201
    same = await service.post(path, json=body, headers=key('a"b\\c'))
    assert same.headers.get("Idempotent-Replayed") == "true"
    assert await get_balance(ALICE_ID) == 80


@pytest.mark.parametrize(
    "value", ['"unclosed', '"a";p=1', '"bad\\escape"', '""', '"' + "k" * 129 + '"', '"tab\there"']
)
async def test_a_malformed_quoted_key_is_400(service: ApiClient, value: str) -> None:
    await fund(ALICE, 100)
    response = await service.post(
        f"/service/users/{ALICE_ID}/debits",
        json={"amount": 10, "reason": "a gift"},
        headers=key(value),
    )
    assert response.status == 400
    assert await error_code(response) == "invalid_idempotency_key"
    assert await get_balance(ALICE_ID) == 100


async def test_the_key_sent_twice_is_400(service: ApiClient) -> None:
    await fund(ALICE, 100)
    from multidict import CIMultiDict

    headers = CIMultiDict(AUTH)
    headers.add("Idempotency-Key", "one")
    headers.add("Idempotency-Key", "two")
    response = await service.post(
        f"/service/users/{ALICE_ID}/debits", json={"amount": 10, "reason": "r"}, headers=headers
    )
    assert response.status == 400
    assert await error_code(response) == "duplicate_idempotency_key"
    assert await get_balance(ALICE_ID) == 100


async def test_a_reversal_with_a_null_reason_is_one_without_a_reason(service: ApiClient) -> None:
    """The document declares the reason nullable; the server takes null as no reason."""
    await fund(ALICE, 100)
    spent = await service.post(
        f"/service/users/{ALICE_ID}/debits",
        json={"amount": 30, "reason": "a gift"},
        headers=key("null-reason"),
    )
    debit = await spent.json()
    back = await service.post(
        f"/service/debits/{debit['debit_id']}/reversal", json={"reason": None}, headers=AUTH
    )
    assert back.status == 201, await back.text()
    assert (await Debit.get(id=debit["debit_id"])).reversal_reason is None
    assert await get_balance(ALICE_ID) == 100
