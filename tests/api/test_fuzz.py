"""A few hundred random requests: whatever a client sends, the API never answers 5xx."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import ALICE, ApiClient, tma

PATHS = [
    "/payments/top-up",
    "/payments/packages",
    "/me",
    "/health",
    "/openapi.json",
    "/dev/add-stars",
    "/payments/00000000-0000-0000-0000-000000000000",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
bodies = st.one_of(
    st.builds(lambda amount: {"amount": amount}, json_values).map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=300),
)
headers: st.SearchStrategy[dict[str, str]] = st.one_of(
    st.just({}),
    st.just(tma(ALICE)),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80).map(
        lambda t: {"Authorization": "tma " + t}
    ),
)
paths = st.one_of(
    st.sampled_from(PATHS),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=30).map(
        lambda t: "/payments/" + t.replace("?", "").replace("#", "")
    ),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=paths,
    body=bodies,
    header=headers,
)
async def test_no_request_gets_a_server_error(
    client: ApiClient, method: str, path: str, body: Any, header: dict[str, str]
) -> None:
    response = await client.request(method, path, data=body, headers=header)
    assert response.status < 500, (method, path, body, response.status, await response.text())
    if response.status >= 400:
        assert "error" in await response.json()
