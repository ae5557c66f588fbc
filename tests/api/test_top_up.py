"""The Mini App's API: who may call it, what it accepts, and how each failure looks."""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from typing import Any

import pytest
import structlog

from api.keys import invoice_links_key
from models.kinds import OrderStatus
from models.ledger.credits import credit_charge
from models.tables import LedgerEntry, TopUpOrder, User
from models.values import Charge
from tests.databases import through_pgbouncer
from tests.emulator import BotApiEmulator, Fault
from tests.helpers import ALICE, BORIS, OTHER_TOKEN, TOKEN, ApiClient, ClientFactory, tma


async def error_of(response: Any, status: int) -> str:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["message"].endswith((".", "!"))
    return str(body["error"]["code"])


async def top_up(client: ApiClient, amount: Any = 100, user: dict[str, Any] = ALICE) -> Any:
    return await client.post("/payments/top-up", json={"amount": amount}, headers=tma(user))


class TestCreatingAnInvoice:
    async def test_returns_a_pending_order_and_a_stars_invoice_link(
        self, client: ApiClient, emulator: BotApiEmulator
    ) -> None:
        response = await top_up(client)
        assert response.status == 201
        body = await response.json()
        assert body["amount"] == 100
        assert body["status"] == "pending"
        assert body["invoice_url"].startswith("https://t.me/$")
        invoice = emulator.invoice(body["invoice_url"])
        assert invoice["payload"] == body["payment_id"]
        assert invoice["currency"] == "XTR"
        assert invoice["amount"] == 100
        assert invoice["title"] == "100 Stars top-up"
        call = emulator.bot(TOKEN).calls_of("createInvoiceLink")[0]
        assert "provider_token" not in call or call["provider_token"] == ""
        assert len(call["prices"]) == 1
        await client.app[invoice_links_key].flush()  # links are written in batches
        order = await TopUpOrder.get(id=body["payment_id"])
        assert order.status is OrderStatus.PENDING
        assert order.invoice_url == body["invoice_url"]
        assert (await User.get(id=ALICE["id"])).username == "alice"

    async def test_speaks_russian_to_russian_users(
        self, client: ApiClient, emulator: BotApiEmulator
    ) -> None:
        body = await (await top_up(client, 250, BORIS)).json()
        invoice = emulator.invoice(body["invoice_url"])
        assert invoice["title"] == "Пополнение на 250 звёзд"
        assert len(invoice["title"]) <= 32
        assert "250 звёзд" in invoice["description"]

    async def test_uses_the_configured_photo(
        self, make_client: ClientFactory, emulator: BotApiEmulator
    ) -> None:
        client = await make_client(invoice_photo_url="https://example.org/stars.png")
        body = await (await top_up(client)).json()
        assert (
            emulator.invoice(body["invoice_url"])["photo_url"] == "https://example.org/stars.png"
        )

    @pytest.mark.parametrize(
        ("amount", "code"),
        [
            (0, "amount_not_offered"),
            (-1, "amount_not_offered"),
            (99, "amount_not_offered"),
            (10**30, "amount_not_offered"),
            ("100", "invalid_amount"),
            (100.5, "invalid_amount"),
            (100.0, "invalid_amount"),
            (True, "invalid_amount"),
            (None, "invalid_amount"),
        ],
    )
    async def test_refuses_amounts_that_are_not_an_offered_integer(
        self, client: ApiClient, amount: Any, code: str
    ) -> None:
        assert await error_of(await top_up(client, amount), 400) == code
        assert await TopUpOrder.all().count() == 0

    @pytest.mark.parametrize(
        ("body", "code"),
        [(b"{not json", "invalid_json"), (b"[100]", "invalid_body"), (b"", "invalid_json")],
    )
    async def test_refuses_bodies_that_are_not_a_json_object(
        self, client: ApiClient, body: bytes, code: str
    ) -> None:
        response = await client.post("/payments/top-up", data=body, headers=tma(ALICE))
        assert await error_of(response, 400) == code

    async def test_refuses_a_body_over_64_kib(self, client: ApiClient) -> None:
        response = await client.post(
            "/payments/top-up", data=io.BytesIO(b"x" * (5 * 1024 * 1024)), headers=tma(ALICE)
        )
        assert await error_of(response, 413) == "payload_too_large"


class TestAuthentication:
    @pytest.mark.parametrize(
        ("headers", "code"),
        [
            ({}, "missing_init_data"),
            ({"Authorization": "Bearer abc"}, "missing_init_data"),
            ({"Authorization": "tma "}, "missing_init_data"),
            ({"Authorization": "tma %%%garbage&&&=="}, "invalid_init_data"),
            ({"Authorization": "tma " + "a" * 5000}, "invalid_init_data"),
            (tma(ALICE, token=OTHER_TOKEN), "invalid_init_data"),
            (tma(ALICE, auth_date=int(time.time()) - 3 * 86400), "init_data_expired"),
            (tma(ALICE, auth_date=int(time.time()) + 3600), "invalid_init_data"),
            (tma(None), "init_data_without_user"),
            (tma(None, extra={"user": "Alice"}), "invalid_init_data"),
            (tma({**ALICE, "id": "1001"}), "invalid_init_data"),
            (tma({**ALICE, "id": True}), "invalid_init_data"),
            (tma([ALICE]), "invalid_init_data"),  # type: ignore[arg-type]
            (tma(ALICE, extra={"auth_date": "yesterday"}), "invalid_init_data"),
        ],
        ids=[
            "missing",
            "other-scheme",
            "empty",
            "garbage",
            "long-garbage",
            "other-bot",
            "three-days-old",
            "from-the-future",
            "no-user",
            "user-not-json",
            "user-id-a-string",
            "user-id-a-bool",
            "user-not-an-object",
            "auth-date-not-a-number",
        ],
    )
    async def test_rejects_bad_init_data(
        self, client: ApiClient, headers: dict[str, str], code: str
    ) -> None:
        response = await client.post("/payments/top-up", json={"amount": 100}, headers=headers)
        assert await error_of(response, 401) == code
        assert await TopUpOrder.all().count() == 0

    async def test_rejects_a_forged_hash(self, client: ApiClient) -> None:
        header = tma(ALICE)["Authorization"]
        forged = header.replace('"id":1001', '"id":1002').replace(
            "%22id%22%3A1001", "%22id%22%3A1002"
        )
        assert forged != header
        response = await client.get("/me", headers={"Authorization": forged})
        assert await error_of(response, 401) == "invalid_init_data"

    async def test_keeps_the_signature_field_in_the_checked_data(self, client: ApiClient) -> None:
        headers = tma(ALICE, extra={"signature": "c2lnbmF0dXJl"})
        assert (await client.get("/me", headers=headers)).status == 200


class TestReadingOrdersAndBalance:
    async def test_an_order_shows_its_status_and_then_its_payment(self, client: ApiClient) -> None:
        created = await (await top_up(client)).json()
        path = f"/payments/{created['payment_id']}"
        before = await (await client.get(path, headers=tma(ALICE))).json()
        assert before["status"] == "pending"
        assert before["paid_at"] is None
        await credit_charge(Charge("ch-1", ALICE["id"], 100, created["payment_id"]))
        after = await (await client.get(path, headers=tma(ALICE))).json()
        assert after["status"] == "paid"
        assert after["paid_at"] is not None
        me = await (await client.get("/me", headers=tma(ALICE))).json()
        assert me == {"telegram_id": ALICE["id"], "stars_balance": 100}

    @pytest.mark.parametrize("payment_id", [str(uuid.uuid4()), "not-a-uuid", "1' OR '1'='1"])
    async def test_unknown_and_malformed_ids_are_not_found(
        self, client: ApiClient, payment_id: str
    ) -> None:
        response = await client.get(f"/payments/{payment_id}", headers=tma(ALICE))
        assert await error_of(response, 404) == "payment_not_found"

    async def test_another_users_order_is_not_found(self, client: ApiClient) -> None:
        created = await (await top_up(client)).json()
        response = await client.get(f"/payments/{created['payment_id']}", headers=tma(BORIS))
        assert await error_of(response, 404) == "payment_not_found"

    async def test_packages_need_no_sign_in(self, client: ApiClient) -> None:
        body = await (await client.get("/payments/packages")).json()
        assert body == {"packages": [50, 100, 250, 500, 1000, 2500]}

    async def test_health_reports_a_live_database(self, client: ApiClient) -> None:
        response = await client.get("/health")
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


class TestTelegramFailures:
    @pytest.mark.parametrize(
        "fault",
        [
            Fault("error", status=500),
            Fault("error", status=502, description="Bad Gateway"),
            Fault("refuse", description="STARS_INVOICE_INVALID"),
            Fault("hang"),
        ],
        ids=["500", "502", "refused", "hangs"],
    )
    async def test_a_failed_link_is_a_502_and_a_failed_order(
        self,
        client: ApiClient,
        emulator: BotApiEmulator,
        fault: Fault,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr("api.views.TELEGRAM_TIMEOUT", 1)
        emulator.set_fault("createInvoiceLink", fault)
        started = time.monotonic()
        assert await error_of(await top_up(client), 502) == "telegram_error"
        assert time.monotonic() - started < 5
        order = await TopUpOrder.get(user_id=ALICE["id"])
        assert order.status is OrderStatus.FAILED
        assert await LedgerEntry.all().count() == 0
        assert (await User.get(id=ALICE["id"])).stars_balance == 0

    async def test_telegram_busy_is_a_503_with_telegrams_own_wait(
        self, client: ApiClient, emulator: BotApiEmulator
    ) -> None:
        emulator.set_fault("createInvoiceLink", Fault("retry_after", retry_after=37, times=1))
        response = await top_up(client)
        assert await error_of(response, 503) == "telegram_busy"
        assert response.headers["Retry-After"] == "37"
        assert (await TopUpOrder.get(user_id=ALICE["id"])).status is OrderStatus.FAILED
        assert (await top_up(client)).status == 201  # a failed order is never given back

    async def test_development_falls_back_to_a_fake_link_when_telegram_is_unreachable(
        self, make_client: ClientFactory
    ) -> None:
        client = await make_client(
            environment="development", telegram_api_url="http://127.0.0.1:9"
        )
        body = await (await top_up(client)).json()
        order_id = uuid.UUID(body["payment_id"])
        assert body["invoice_url"] == f"https://t.me/$stars_topup_{order_id.hex}"
        assert (await TopUpOrder.get(id=order_id)).status is OrderStatus.PENDING

    async def test_production_never_fakes_a_link(self, make_client: ClientFactory) -> None:
        client = await make_client(telegram_api_url="http://127.0.0.1:9")
        assert await error_of(await top_up(client), 502) == "telegram_error"


class TestAbandonedInvoices:
    @through_pgbouncer
    async def test_buy_again_gives_back_the_open_order_and_its_link(
        self, client: ApiClient, emulator: BotApiEmulator
    ) -> None:
        first = await (await top_up(client)).json()
        await client.app[invoice_links_key].flush()
        again = await top_up(client)
        assert again.status == 200
        body = await again.json()
        assert (body["payment_id"], body["invoice_url"]) == (
            first["payment_id"],
            first["invoice_url"],
        )
        assert body["expires_at"] >= first["expires_at"]
        assert len(emulator.bot(TOKEN).calls_of("createInvoiceLink")) == 1
        assert await TopUpOrder.filter(user_id=ALICE["id"]).count() == 1

    async def test_buy_again_before_the_link_is_stored_pays_the_same_order(
        self, client: ApiClient, emulator: BotApiEmulator
    ) -> None:
        first = await (await top_up(client)).json()
        again = await (await top_up(client)).json()  # the link is still in the batch
        assert again["payment_id"] == first["payment_id"]
        assert emulator.invoice(again["invoice_url"])["payload"] == first["payment_id"]

    @through_pgbouncer
    async def test_presses_racing_for_one_order_make_one_link_call(
        self, client: ApiClient, emulator: BotApiEmulator
    ) -> None:
        """Each press got the order back before its link was stored and asked Telegram
        for one of its own: 200 presses, 200 calls, past every limit on them."""
        emulator.set_latency(0.05)  # Telegram a little way off: the presses overlap
        answers = await asyncio.gather(*(top_up(client) for _ in range(200)))
        bodies = [await answer.json() for answer in answers]
        assert sorted(answer.status for answer in answers) == [200] * 199 + [201]
        assert len(emulator.bot(TOKEN).calls_of("createInvoiceLink")) == 1
        assert len({(body["payment_id"], body["invoice_url"]) for body in bodies}) == 1
        await client.app[invoice_links_key].flush()
        order = await TopUpOrder.get(user_id=ALICE["id"])
        assert order.invoice_url == bodies[0]["invoice_url"]
        # Once stored, the link comes from the order itself.
        assert (await (await top_up(client)).json())["invoice_url"] == order.invoice_url
        assert len(emulator.bot(TOKEN).calls_of("createInvoiceLink")) == 1

    @through_pgbouncer
    async def test_past_the_open_limit_the_oldest_order_is_retired(
        self, make_client: ClientFactory
    ) -> None:
        client = await make_client(topup_max_pending=2)
        opened = [await (await top_up(client, amount)).json() for amount in (50, 100, 250)]
        assert all(order["status"] == "pending" for order in opened)
        statuses = [
            (await (await client.get(f"/payments/{o['payment_id']}", headers=tma(ALICE))).json())[
                "status"
            ]
            for o in opened
        ]
        assert statuses == ["expired", "pending", "pending"]
        assert (await top_up(client, user=BORIS)).status == 201


class TestRateLimits:
    @through_pgbouncer
    async def test_too_many_requests_a_minute_says_the_real_wait(
        self, make_client: ClientFactory
    ) -> None:
        client = await make_client(topup_per_minute=3)
        started = time.monotonic()
        assert (await top_up(client, 50)).status == 201
        first_made = time.monotonic()  # the first order was made in [started, first_made]
        for amount in (100, 250):
            assert (await top_up(client, amount)).status == 201
        asked = time.monotonic()
        with structlog.testing.capture_logs() as logs:
            response = await top_up(client, 500)
        answered = time.monotonic()  # the wait was worked out in [asked, answered]
        assert await error_of(response, 429) == "rate_limited"
        # One line for the request, which says why it was refused.
        assert [(e["event"], e["status"], e["refusal"]) for e in logs] == [
            ("request", 429, "rate_limited")
        ]
        # The first order leaves the one-minute window 60 s after it was made; the bounds
        # allow for the time each request took, however loaded the machine.
        wait = int(response.headers["Retry-After"])
        assert 60 - (answered - started) - 1 <= wait <= 60 - (asked - first_made) + 1
        assert (await top_up(client, 100)).status == 200  # an open order is still given back


class TestDevelopmentCredit:
    async def test_credits_through_the_ledger_in_development(
        self, make_client: ClientFactory
    ) -> None:
        client = await make_client(environment="development")
        response = await client.post("/dev/add-stars", json={"amount": 500}, headers=tma(ALICE))
        assert await response.json() == {"telegram_id": ALICE["id"], "stars_balance": 500}
        entry = await LedgerEntry.get(user_id=ALICE["id"])
        assert (entry.kind, entry.amount) == ("dev_credit", 500)

    async def test_does_not_exist_in_production(self, client: ApiClient) -> None:
        response = await client.post("/dev/add-stars", json={"amount": 500}, headers=tma(ALICE))
        assert await error_of(response, 404) == "not_found"
        assert await LedgerEntry.all().count() == 0


class TestHttpBehaviour:
    async def test_wrong_method_is_a_json_405(self, client: ApiClient) -> None:
        response = await client.delete("/payments/top-up")
        assert await error_of(response, 405) == "method_not_allowed"

    async def test_unknown_path_is_a_json_404(self, client: ApiClient) -> None:
        assert await error_of(await client.get("/nope"), 404) == "not_found"

    async def test_every_response_carries_a_request_id(self, client: ApiClient) -> None:
        response = await client.get("/health", headers={"X-Request-Id": "abc-123"})
        assert response.headers["X-Request-Id"] == "abc-123"
        generated = (await client.get("/nope")).headers["X-Request-Id"]
        assert len(generated) == 32

    async def test_a_requests_log_context_ends_with_it(self, client: ApiClient) -> None:
        # Both on one keep-alive connection: the second must not carry the first's
        # request id, user or order.
        merge = structlog.contextvars.merge_contextvars
        with structlog.testing.capture_logs(processors=[merge]) as logs:
            assert (await top_up(client)).status == 201
            assert (await client.get("/health")).status == 200
        first, second = (e for e in logs if e["event"] == "request")
        assert {"request_id", "user_id", "order_id"} <= set(first)
        assert second["request_id"] != first["request_id"]
        assert "user_id" not in second
        assert "order_id" not in second

    async def test_cors_allows_only_the_mini_app_origin(self, make_client: ClientFactory) -> None:
        client = await make_client(api_cors_origins="https://app.example.org")
        preflight = await client.options(
            "/payments/top-up",
            headers={
                "Origin": "https://app.example.org",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.org"
        assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
        other = await client.get("/payments/packages", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
