"""/openapi.json describes exactly the routes that exist, and real answers fit it."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer

from tests.helpers import ALICE, ApiClient, ClientFactory, tma


def served_routes(client: ApiClient) -> set[tuple[str, str]]:
    routes = set()
    assert isinstance(client.server, TestServer)
    for route in client.server.app.router.routes():
        if route.method != "HEAD" and route.resource is not None:
            routes.add((route.resource.canonical, route.method.lower()))
    return routes


def described_routes(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, item in spec["paths"].items() for method in item}


def conforms(value: Any, schema: dict[str, Any], spec: dict[str, Any]) -> bool:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return conforms(value, spec["components"]["schemas"][name], spec)
    if value is None:
        return bool(schema.get("nullable"))
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    if kind and not checks[kind](value):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if kind == "object":
        if not set(schema.get("required", [])) <= set(value):
            return False
        props = schema.get("properties", {})
        return all(conforms(value[k], props[k], spec) for k in value if k in props)
    if kind == "array":
        return all(conforms(item, schema.get("items", {}), spec) for item in value)
    return True


async def answer_fits(
    client: ApiClient, spec: dict[str, Any], path: str, method: str, response: Any
) -> None:
    documented = spec["paths"][path][method]["responses"]
    assert str(response.status) in documented, (path, method, response.status)
    content = documented[str(response.status)].get("content")
    if content:
        schema = content["application/json"]["schema"]
        assert conforms(await response.json(), schema, spec), (path, response.status)


async def test_every_route_is_described_and_every_description_is_served(
    make_client: ClientFactory,
) -> None:
    for environment in ("production", "development"):
        client = await make_client(environment=environment)
        spec = await (await client.get("/openapi.json")).json()
        assert spec["openapi"].startswith("3.")
        assert served_routes(client) == described_routes(spec), environment


async def test_real_answers_match_their_schemas(make_client: ClientFactory) -> None:
    client = await make_client(environment="development")
    spec = await (await client.get("/openapi.json")).json()
    created = await client.post("/payments/top-up", json={"amount": 100}, headers=tma(ALICE))
    await answer_fits(client, spec, "/payments/top-up", "post", created)
    payment_id = (await created.json())["payment_id"]
    cases = [
        (
            "/payments/top-up",
            "post",
            client.post("/payments/top-up", json={"amount": 7}, headers=tma(ALICE)),
        ),
        ("/payments/top-up", "post", client.post("/payments/top-up", json={"amount": 100})),
        (
            "/payments/{payment_id}",
            "get",
            client.get(f"/payments/{payment_id}", headers=tma(ALICE)),
        ),
        ("/payments/{payment_id}", "get", client.get("/payments/x", headers=tma(ALICE))),
        ("/me", "get", client.get("/me", headers=tma(ALICE))),
        ("/payments/packages", "get", client.get("/payments/packages")),
        ("/health", "get", client.get("/health")),
        (
            "/dev/add-stars",
            "post",
            client.post("/dev/add-stars", json={"amount": 5}, headers=tma(ALICE)),
        ),
    ]
    for path, method, request in cases:
        await answer_fits(client, spec, path, method, await request)
