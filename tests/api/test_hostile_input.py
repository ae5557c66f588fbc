"""Whatever bytes a client sends, the answer is a 4xx with a JSON error, never a 500.

Requests aiohttp's own parser refuses, and what is logged for them, are in
test_process.py: only the real process has the real logging.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import structlog

from models.tables import TopUpOrder, User
from tests.api import raw_http
from tests.api.raw_http import Answer, connection, raw_request, read_answer
from tests.api.test_top_up import error_of
from tests.helpers import ALICE, ApiClient, ClientFactory, sign_init_data, tma


async def send(client: ApiClient, request: bytes) -> Answer:
    assert client.port is not None
    return await raw_http.send(client.host, client.port, request)


def signed(**options: Any) -> str:
    return "tma " + sign_init_data(ALICE, **options)


class TestInitData:
    async def test_bytes_that_are_not_utf8_in_authorization_are_refused(
        self, client: ApiClient
    ) -> None:
        header = b"tma auth_date=1&user=\xff\xfe&hash=" + b"0" * 64
        answer = await send(client, raw_request("GET", "/me", {"Authorization": header}))
        assert answer.status == 401
        assert answer.error_code() == "invalid_init_data"

    @pytest.mark.parametrize(
        "hash_",
        [
            "%C3%A9" * 32,  # é: compare_digest raises on non-ASCII text
            "%E2%80%8B" + "0" * 63,
            "0" * 63,  # the wrong length
            "Z" * 64,  # not hex
            "%zz",  # not percent-encoding
        ],
    )
    async def test_a_hash_that_is_not_64_hex_digits_is_refused(
        self, client: ApiClient, hash_: str
    ) -> None:
        header = signed().rsplit("hash=", 1)[0] + "hash=" + hash_
        response = await client.get("/me", headers={"Authorization": header})
        assert await error_of(response, 401) == "invalid_init_data"

    @pytest.mark.parametrize(
        "header", ["tma %zz%C3%28=%E0%80", "tma &&==&", "tma user=%ff%fe&hash=%00"]
    )
    async def test_garbage_percent_encoding_is_refused(
        self, client: ApiClient, header: str
    ) -> None:
        response = await client.get("/me", headers={"Authorization": header})
        assert await error_of(response, 401) == "invalid_init_data"

    @pytest.mark.parametrize(
        "user",
        [
            "[" * 2000,  # deeper than json.loads can go
            json.dumps({"id": 10**30, "first_name": "Big"}),  # beyond a 64-bit column
            json.dumps({"id": 2**63, "first_name": "Big"}),
            '{"id": ' + "9" * 5000 + "}",  # beyond Python's digit limit
        ],
        ids=["nested", "huge-id", "id-2^63", "5000-digits"],
    )
    async def test_a_signed_user_field_that_is_hostile_is_refused_and_writes_nothing(
        self, client: ApiClient, user: str
    ) -> None:
        # Signed with our token: only the bot's owner could send these, but a bug in
        # a client library might.
        header = "tma " + sign_init_data(None, extra={"user": user})
        response = await client.get("/me", headers={"Authorization": header})
        assert await error_of(response, 401) == "invalid_init_data"
        assert await User.all().count() == 0


class TestBody:
    @pytest.mark.parametrize("body", ["[" * 60_000, '{"amount": ' * 5_000])
    async def test_json_nested_deeper_than_the_parser_goes_is_invalid_json(
        self, client: ApiClient, body: str
    ) -> None:
        response = await client.post(
            "/payments/top-up",
            data=body,
            headers={"Authorization": signed(), "Content-Type": "application/json"},
        )
        assert await error_of(response, 400) == "invalid_json"
        assert await TopUpOrder.all().count() == 0

    async def test_the_body_is_read_as_json_whatever_content_type_claims(
        self, client: ApiClient
    ) -> None:
        response = await client.post(
            "/payments/top-up",
            data=b'{"amount": 100}',
            headers={"Authorization": signed(), "Content-Type": "image/png"},
        )
        assert response.status == 201
        response = await client.post(
            "/payments/top-up",
            data=b"amount=100",
            headers={"Authorization": signed(), "Content-Type": "application/json"},
        )
        assert await error_of(response, 400) == "invalid_json"

    async def test_a_body_that_contradicts_its_content_encoding_is_unreadable(
        self, client: ApiClient
    ) -> None:
        response = await client.post(
            "/payments/top-up",
            data=b'{"amount": 100}',
            headers={"Authorization": signed(), "Content-Encoding": "gzip"},
        )
        assert await error_of(response, 400) == "unreadable_body"
        assert response.headers["Connection"] == "close"
        assert await TopUpOrder.all().count() == 0

    async def test_a_trickled_body_is_a_408_not_a_database_outage(self, client: ApiClient) -> None:
        before = await (await client.get("/metrics")).text()
        body = b'{"amount": 100}'
        request = raw_request(
            "POST",
            "/payments/top-up",
            {
                "Authorization": signed().encode(),
                "Content-Type": b"application/json",
                "Content-Length": str(len(body)).encode(),
            },
        )
        started = time.monotonic()
        with structlog.testing.capture_logs() as logs:
            assert client.port is not None
            async with connection(client.host, client.port) as (reader, writer):
                writer.write(request)

                async def trickle() -> None:
                    for byte in body[:-1]:  # never the last one
                        writer.write(bytes([byte]))
                        await asyncio.sleep(0.5)

                task = asyncio.create_task(trickle())
                try:
                    answer = await asyncio.wait_for(read_answer(reader), 30)
                finally:
                    task.cancel()
        assert time.monotonic() - started < 15  # well before REQUEST_TIMEOUT (20 s)
        assert answer.status == 408
        assert answer.error_code() == "request_timeout"
        assert answer.headers["Connection"] == "close"
        events = {event["event"]: event for event in logs}
        assert events["request.body_timeout"]["log_level"] == "info"
        assert events["request"]["status"] == 408
        assert events["request"]["log_level"] == "info"
        assert "request.database_unavailable" not in events
        assert await TopUpOrder.all().count() == 0
        after = await (await client.get("/metrics")).text()
        assert database_samples(after) == database_samples(before)


def database_samples(metrics: str) -> list[str]:
    return [line for line in metrics.splitlines() if "database" in line and "#" not in line]


class TestRoutes:
    @pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
    async def test_top_up_answers_only_post(self, client: ApiClient, method: str) -> None:
        response = await client.request(
            method, "/payments/top-up", headers={"Authorization": signed()}
        )
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
        if method != "HEAD":
            assert await error_of(response, 405) == "method_not_allowed"

    async def test_payments_can_still_be_looked_up(self, client: ApiClient) -> None:
        created = await client.post(
            "/payments/top-up", json={"amount": 100}, headers={"Authorization": signed()}
        )
        payment_id = (await created.json())["payment_id"]
        response = await client.get(f"/payments/{payment_id}", headers=tma(ALICE))
        assert response.status == 200
        response = await client.get("/payments/top-up-2", headers=tma(ALICE))
        assert await error_of(response, 404) == "payment_not_found"

    async def test_head_never_writes(self, client: ApiClient) -> None:
        response = await client.head("/me", headers=tma(ALICE))
        assert response.status == 405
        assert response.headers["Allow"] == "GET"
        assert await User.all().count() == 0
        assert (await client.head("/health")).status == 200
        assert (await client.get("/me", headers=tma(ALICE))).status == 200
        assert await User.all().count() == 1

    async def test_a_redirect_keeps_its_location(self, client: ApiClient) -> None:
        response = await client.get("/app", allow_redirects=False)
        assert response.status == 308
        assert response.headers["Location"] == "/app/"


class TestCors:
    ORIGIN = "https://mini-app.example"

    @pytest.mark.parametrize(
        ("method", "path", "headers"),
        [
            ("GET", "/health", {"Origin": ORIGIN}),
            ("GET", "/health", {"Origin": "https://elsewhere.example"}),
            ("GET", "/health", {}),
            ("GET", "/me", {}),  # an error answer
            ("GET", "/nowhere", {"Origin": "https://elsewhere.example"}),
            ("OPTIONS", "/me", {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}),
            (
                "OPTIONS",
                "/me",
                {"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
            ),
        ],
    )
    async def test_every_answer_varies_by_origin(
        self,
        make_client: ClientFactory,
        method: str,
        path: str,
        headers: dict[str, str],
    ) -> None:
        client = await make_client(api_cors_origins=[self.ORIGIN])
        response = await client.request(method, path, headers=headers)
        assert "Origin" in response.headers["Vary"]
        allowed = response.headers.get("Access-Control-Allow-Origin")
        assert allowed == (self.ORIGIN if headers.get("Origin") == self.ORIGIN else None)

    async def test_without_cors_nothing_varies(self, client: ApiClient) -> None:
        response = await client.get("/health", headers={"Origin": self.ORIGIN})
        assert "Vary" not in response.headers
        assert "Access-Control-Allow-Origin" not in response.headers

    async def test_a_wildcard_echoes_only_a_well_formed_origin(
        self, make_client: ClientFactory
    ) -> None:
        client = await make_client(api_cors_origins=["*"])
        response = await client.get("/health", headers={"Origin": self.ORIGIN})
        assert response.headers["Access-Control-Allow-Origin"] == self.ORIGIN
        answer = await send(
            client, raw_request("GET", "/health", {"Origin": b"https://\xff\xfe.example"})
        )
        assert answer.status == 200
        assert "Access-Control-Allow-Origin" not in answer.headers
        assert answer.headers["Vary"] == "Origin"


async def test_a_request_id_that_is_not_utf8_is_replaced(client: ApiClient) -> None:
    answer = await send(client, raw_request("GET", "/health", {"X-Request-Id": b"\xff\xfe"}))
    assert answer.status == 200
    assert len(answer.headers["X-Request-Id"]) == 32
