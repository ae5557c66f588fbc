"""With SERVICE_API_KEYS set, /openapi.json describes the /service/… endpoints with their
bearer scheme, exactly as served, and their real answers fit the schemas."""

from __future__ import annotations

import uuid

from models.kinds import EntryKind
from models.ledger.entries import apply_entry
from models.users import upsert_user
from models.values import Profile
from tests.api.test_openapi import answer_fits, described_routes, served_routes
from tests.helpers import ALICE, ClientFactory, tma

KEY = "svc_" + "k" * 40
AUTH = {"Authorization": f"Bearer {KEY}"}


async def test_the_service_routes_are_described_with_a_bearer_scheme_when_enabled(
    make_client: ClientFactory,
) -> None:
    for environment in ("production", "development"):
        client = await make_client(environment=environment, service_api_keys=[KEY])
        spec = await (await client.get("/openapi.json")).json()
        assert served_routes(client) == described_routes(spec), environment
        assert spec["components"]["securitySchemes"]["serviceKey"] == {
            "type": "http",
            "scheme": "bearer",
            "description": "One of SERVICE_API_KEYS (the app's backend only).",
        }
        service_paths = [path for path in spec["paths"] if path.startswith("/service/")]
        # 4 for debits and the ledger, 4 for gifts, 1 for adjustments
        assert len(service_paths) == 9
        for path in service_paths:
            for operation in spec["paths"][path].values():
                assert operation["security"] == [{"serviceKey": []}]
    plain = await make_client()
    spec = await (await plain.get("/openapi.json")).json()
    assert not [path for path in spec["paths"] if path.startswith("/service/")]
    assert "/me/ledger" in spec["paths"]


async def test_real_service_answers_match_their_schemas(make_client: ClientFactory) -> None:
    client = await make_client(service_api_keys=[KEY])
    spec = await (await client.get("/openapi.json")).json()
    await upsert_user(Profile(ALICE["id"], "alice", "Alice", "en"))
    await apply_entry(ALICE["id"], 50, EntryKind.DEV_CREDIT)
    user = f"/service/users/{ALICE['id']}"
    debits = "/service/users/{telegram_id}/debits"
    reversal = "/service/debits/{debit_id}/reversal"

    def debit(amount: int, key: str, auth: dict[str, str] = AUTH):  # type: ignore[no-untyped-def]
        return client.post(
            f"{user}/debits",
            json={"amount": amount, "reason": "a gift"},
            headers={**auth, "Idempotency-Key": key},
        )

    spent = await debit(20, "spec")
    await answer_fits(client, spec, debits, "post", spent)
    debit_id = (await spent.json())["debit_id"]
    cases = [
        ("/service/users/{telegram_id}", "get", client.get(user, headers=AUTH)),
        ("/service/users/{telegram_id}", "get", client.get("/service/users/7", headers=AUTH)),
        ("/service/users/{telegram_id}", "get", client.get(user)),
        (debits, "post", debit(20, "spec")),
        (debits, "post", debit(21, "spec")),
        (debits, "post", debit(500, "too-much")),
        (debits, "post", debit(0, "zero")),
        (debits, "post", client.post("/service/users/7/debits", json={}, headers=AUTH)),
        (debits, "post", debit(1, "bad-key", {"Authorization": "Bearer nope"})),
        (reversal, "post", client.post(f"/service/debits/{debit_id}/reversal", headers=AUTH)),
        (reversal, "post", client.post(f"/service/debits/{debit_id}/reversal", headers=AUTH)),
        (
            reversal,
            "post",
            client.post(f"/service/debits/{uuid.uuid4()}/reversal", headers=AUTH),
        ),
        (
            reversal,
            "post",
            client.post(f"/service/debits/{debit_id}/reversal", json={"reason": ""}, headers=AUTH),
        ),
        ("/service/users/{telegram_id}/ledger", "get", client.get(f"{user}/ledger", headers=AUTH)),
        (
            "/service/users/{telegram_id}/ledger",
            "get",
            client.get(f"{user}/ledger?limit=1", headers=AUTH),
        ),
        (
            "/service/users/{telegram_id}/ledger",
            "get",
            client.get(f"{user}/ledger?limit=500", headers=AUTH),
        ),
        (
            "/service/users/{telegram_id}/ledger",
            "get",
            client.get("/service/users/7/ledger", headers=AUTH),
        ),
        ("/me/ledger", "get", client.get("/me/ledger", headers=tma(ALICE))),
        ("/me/ledger", "get", client.get("/me/ledger?before=x", headers=tma(ALICE))),
        ("/me/ledger", "get", client.get("/me/ledger")),
    ]
    for path, method, request in cases:
        await answer_fits(client, spec, path, method, await request)
