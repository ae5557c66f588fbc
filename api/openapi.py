"""The OpenAPI 3 description of the API, served at /openapi.json.

tests/api/test_openapi.py keeps it true: every route is described, every described
route exists, and responses match their schemas.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.keys import settings_key


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


AUTH_ERRORS = {
    "401": _error("Missing, forged, expired or other-bot initData"),
    "503": _error("The database is unreachable"),
}
BODY_ERRORS = {
    "408": _error("The body did not arrive within 5 seconds (request_timeout)"),
    "413": _error("Body over 64 KiB"),
}
AMOUNT_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AmountRequest"}}},
}


def build_spec(*, development: bool) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/health": {
            "get": {
                "summary": "Liveness and database check",
                "security": [],
                "responses": {
                    "200": _ok("The database answers", "Health"),
                    "503": _ok("The database does not answer", "Health"),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3 document"}},
            }
        },
        "/app": {
            "get": {
                "summary": "Redirects to /app/",
                "security": [],
                "responses": {"308": {"description": "Permanent redirect to /app/"}},
            }
        },
        "/app/": {
            "get": {
                "summary": "The reference Mini App page",
                "security": [],
                "responses": {"200": {"description": "HTML"}},
            }
        },
        "/app/{name}": {
            "get": {
                "summary": "The reference Mini App's script and style",
                "security": [],
                "parameters": [
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["app.js", "app.css", "index.html"]},
                    }
                ],
                "responses": {
                    "200": {"description": "JavaScript or CSS"},
                    "404": _error("No such file"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics of this process (restrict it to your scraper)",
                "security": [],
                "responses": {"200": {"description": "Prometheus text format"}},
            }
        },
        "/payments/packages": {
            "get": {
                "summary": "The Stars packages on offer",
                "security": [],
                "responses": {"200": _ok("Packages", "Packages")},
            }
        },
        "/me": {
            "get": {
                "summary": "The caller's Telegram id and Stars balance",
                "responses": {"200": _ok("Balance", "Me"), **AUTH_ERRORS},
            }
        },
        "/payments/top-up": {
            "post": {
                "summary": "Open a pending order and create its Telegram Stars invoice link",
                "requestBody": AMOUNT_BODY,
                "responses": {
                    "201": _ok(
                        "Order created; open invoice_url with Telegram.WebApp.openInvoice", "TopUp"
                    ),
                    "200": _ok(
                        "The caller's open order of this amount, given back with its link",
                        "TopUp",
                    ),
                    "400": _error(
                        "Malformed or unreadable body, wrong types or an amount not offered"
                    ),
                    **BODY_ERRORS,
                    "429": {
                        **_error("Too many new orders a minute; Retry-After says when"),
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    },
                    "502": _error(
                        "Telegram refused or failed to create the link; nothing charged"
                    ),
                    "503": {
                        **_error("telegram_busy (Telegram's flood wait) or database_unavailable"),
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    },
                    **AUTH_ERRORS,
                },
            }
        },
        "/payments/{payment_id}": {
            "get": {
                "summary": "An order's status (poll it after openInvoice: the client callback "
                "is only a hint)",
                "parameters": [
                    {
                        "name": "payment_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "format": "uuid"},
                    }
                ],
                "responses": {
                    "200": _ok("The order", "Payment"),
                    "404": _error("Unknown, malformed or another user's order"),
                    **AUTH_ERRORS,
                },
            }
        },
    }
    if development:
        paths["/dev/add-stars"] = {
            "post": {
                "summary": "Development only: credit the caller through the ledger",
                "requestBody": AMOUNT_BODY,
                "responses": {
                    "200": _ok("New balance", "Me"),
                    "400": _error("Malformed or unreadable body, or a wrong amount"),
                    **BODY_ERRORS,
                    **AUTH_ERRORS,
                },
            }
        }
    status = ["pending", "paid", "refunded", "expired", "failed"]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Telegram Stars top-up API",
            "version": "1.0.0",
            "description": "Authenticate with 'Authorization: tma <Telegram.WebApp.initData>'.",
        },
        "security": [{"tma": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "tma": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "The word 'tma', a space, then Telegram.WebApp.initData as is.",
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
                "AmountRequest": {
                    "type": "object",
                    "required": ["amount"],
                    "properties": {"amount": {"type": "integer"}},
                },
                "TopUp": {
                    "type": "object",
                    "required": ["payment_id", "invoice_url", "amount", "status", "expires_at"],
                    "properties": {
                        "payment_id": {"type": "string", "format": "uuid"},
                        "invoice_url": {"type": "string"},
                        "amount": {"type": "integer"},
                        "status": {"type": "string", "enum": status},
                        "expires_at": {"type": "string", "format": "date-time"},
                    },
                },
                "Payment": {
                    "type": "object",
                    "required": ["payment_id", "amount", "status", "created_at", "paid_at"],
                    "properties": {
                        "payment_id": {"type": "string", "format": "uuid"},
                        "amount": {"type": "integer"},
                        "status": {"type": "string", "enum": status},
                        "created_at": {"type": "string", "format": "date-time"},
                        "paid_at": {"type": "string", "format": "date-time", "nullable": True},
                    },
                },
                "Me": {
                    "type": "object",
                    "required": ["telegram_id", "stars_balance"],
                    "properties": {
                        "telegram_id": {"type": "integer"},
                        "stars_balance": {"type": "integer"},
                    },
                },
                "Packages": {
                    "type": "object",
                    "required": ["packages"],
                    "properties": {"packages": {"type": "array", "items": {"type": "integer"}}},
                },
                "Health": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"type": "string"}},
                },
            },
        },
    }


async def openapi(request: web.Request) -> web.Response:
    settings = request.app[settings_key]
    return web.json_response(build_spec(development=settings.is_development))
