"""The OpenAPI 3 description of the API, served at /openapi.json.

tests/api/test_openapi.py keeps it true: every route is described, every described
route exists, and responses match their schemas.
"""

from __future__ import annotations

from typing import Any, is_typeddict

from aiohttp import web

from api import shapes
from api.bodies import MAX_DEV_CREDIT
from api.json_schema import components, ref
from api.keys import settings_key
from models.ledger.debits import MAX_IDEMPOTENCY_KEY
from models.queries.history import DEFAULT_PAGE, MAX_PAGE

MAX_ID = 2**63 - 1  # ids and cursors are signed 64-bit

# Every TypedDict in api.shapes, in the order declared there: the views build these.
SCHEMAS = components(*(item for item in vars(shapes).values() if is_typeddict(item)))
# A request's recipient, as models.gifts.rules.check_recipient takes it: exactly one
# key, a user id positive, a chat id any non-zero 64-bit integer. (The answer's `to` is
# the plain Recipient: what the server writes needs no oneOf to be read.)
_ONE_ID = {"minimum": -MAX_ID, "maximum": MAX_ID}
SCHEMAS["RecipientChoice"] = {
    "description": "Exactly one of user_id and chat_id",
    "oneOf": [
        {
            "type": "object",
            "required": ["user_id"],
            "properties": {"user_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID}},
            "additionalProperties": False,
        },
        {
            "type": "object",
            "required": ["chat_id"],
            "properties": {
                "chat_id": {
                    "type": "integer",
                    **_ONE_ID,
                    "not": {"enum": [0]},
                    "description": "A channel chat (not limited gifts)",
                }
            },
            "additionalProperties": False,
        },
    ],
}
SCHEMAS["GiftRequest"]["properties"]["to"] = {"$ref": "#/components/schemas/RecipientChoice"}


def _json(shape: type) -> dict[str, Any]:
    return {"application/json": {"schema": ref(shape)}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(shapes.Error)}


def _ok(description: str, shape: type) -> dict[str, Any]:
    return {"description": description, "content": _json(shape)}


OVERLOADED = "or overloaded (API_MAX_IN_FLIGHT requests in the works; Retry-After: 1)"
UNAVAILABLE = {
    **_error(f"database_unavailable, {OVERLOADED}"),
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
}
AUTH_ERRORS = {
    "401": _error("Missing, forged, expired or other-bot initData"),
    "503": UNAVAILABLE,
}
BODY_ERRORS = {
    "408": _error("The body did not arrive within 5 seconds (request_timeout)"),
    "413": _error("Body over 64 KiB"),
}


def _amount_body(amount: dict[str, Any]) -> dict[str, Any]:
    """`{"amount": …}` with what this route accepts of it (settings decide a top-up's)."""
    schema = {
        "type": "object",
        "required": ["amount"],
        "properties": {"amount": {"type": "integer", **amount}},
    }
    return {"required": True, "content": {"application/json": {"schema": schema}}}


SERVICE_ERRORS = {
    "401": _error("invalid_service_key: no 'Authorization: Bearer <key>' or a wrong key"),
    "503": UNAVAILABLE,
}
SERVICE_SECURITY: list[dict[str, list[str]]] = [{"serviceKey": []}]


def _path_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


TELEGRAM_ID = _path_param(
    "telegram_id", "The user's Telegram id", type="integer", format="int64", minimum=1
)
PAGE_PARAMS = [
    {
        "name": "limit",
        "in": "query",
        "description": f"Entries per page (default {DEFAULT_PAGE})",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
    },
    {
        "name": "before",
        "in": "query",
        "description": "The `next` of the previous page (a positive whole number as "
        "text; leave it out for the first page)",
        "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
    },
]
PAGE_ERRORS = {"400": _error("invalid_limit or invalid_cursor")}
# A bare key of printable ASCII not starting with a quote, or one quoted as an sf-string.
KEY_PATTERN = (
    rf"^(?:[!#-~][ -~]{{0,{MAX_IDEMPOTENCY_KEY - 1}}}"
    rf'|"(?:[ !#-\[\]-~]|\\["\\]){{1,{MAX_IDEMPOTENCY_KEY}}}")$'
)


def key_param(what: str, more: str = "") -> dict[str, Any]:
    """The `Idempotency-Key` header as api/idempotency.py reads it, for every route."""
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": True,
        "description": f"1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters, unique per "
        f'{what}: a Structured Field string ("abc") as the IETF draft writes it, or bare '
        f"(abc), the same key; sent once{more}",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": 2 * MAX_IDEMPOTENCY_KEY + 2,
            "pattern": KEY_PATTERN,
        },
    }


IDEMPOTENCY_KEY = key_param(
    "purchase", " (a service key may not begin with miniapp:, the Mini App's namespace)"
)
REPLAYED = {
    "Idempotent-Replayed": {
        "description": "'true' when this is the key's purchase again",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}}}


def _purchase(summary: str, body: type, errors400: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "description": "Debits the user and queues one Telegram purchase per "
            "Idempotency-Key (docs/gifts.md). 201: its final state (sent, or failed with the "
            "Stars given back) came within GIFT_ANSWER_WAIT; 202: still pending, the outcome "
            "follows as a gift.sent / gift.failed event and by GET /service/gifts/{id}.",
            "security": SERVICE_SECURITY,
            "parameters": [TELEGRAM_ID, IDEMPOTENCY_KEY],
            "requestBody": {"required": True, "content": _json(body)},
            "responses": {
                **SERVICE_ERRORS,
                "201": {**_ok("Sent or failed", shapes.GiftPurchase), "headers": REPLAYED},
                "202": {**_ok("Pending", shapes.GiftPurchase), "headers": REPLAYED},
                "400": _error(
                    "missing_idempotency_key, invalid_idempotency_key, "
                    f"duplicate_idempotency_key, invalid_json, invalid_body, {errors400}"
                ),
                "404": _error("user_not_found, unknown_gift"),
                "409": _error("gift_sold_out, price_changed (error.star_count is the price now)"),
                "422": _error("insufficient_balance, idempotency_key_reused"),
                "413": _error("Body over 64 KiB"),
                "503": {
                    **_error(
                        "bot_balance_low (the bot's own Stars cannot cover it now; nothing "
                        "debited), catalog_unavailable, database_unavailable, overloaded"
                    ),
                    "headers": RETRY_AFTER,
                },
            },
        }
    }


CATALOG = {
    "200": _ok("The catalog (possibly stale: see stale and age_seconds)", shapes.GiftCatalog),
}


def _gift_paths() -> dict[str, Any]:
    return {
        "/service/gifts": {
            "get": {
                "summary": "Telegram's gift catalog and the Premium offers",
                "security": SERVICE_SECURITY,
                "responses": {
                    **SERVICE_ERRORS,
                    **CATALOG,
                    "503": {**_error("catalog_unavailable, …"), "headers": RETRY_AFTER},
                },
            }
        },
        "/service/users/{telegram_id}/gifts": _purchase(
            "Send a Telegram gift paid from the user's balance, exactly once per key",
            shapes.GiftRequest,
            "invalid_recipient, invalid_text, limited_gift_to_channel",
        ),
        "/service/users/{telegram_id}/premium": _purchase(
            "Gift Telegram Premium paid from the user's balance, exactly once per key",
            shapes.PremiumRequest,
            "invalid_recipient, invalid_text, invalid_months",
        ),
        "/service/gifts/{gift_id}": {
            "get": {
                "summary": "A gift or Premium purchase and where it stands",
                "security": SERVICE_SECURITY,
                "parameters": [
                    _path_param("gift_id", "The purchase's id", type="string", format="uuid")
                ],
                "responses": {
                    "200": _ok("The purchase", shapes.GiftPurchase),
                    "404": _error("gift_not_found"),
                    **SERVICE_ERRORS,
                },
            }
        },
    }


def _service_paths() -> dict[str, Any]:
    """The /service/… endpoints, served only when SERVICE_API_KEYS is set."""
    return {
        **_gift_paths(),
        "/service/users/{telegram_id}": {
            "get": {
                "summary": "A user's Stars balance and profile",
                "security": SERVICE_SECURITY,
                "parameters": [TELEGRAM_ID],
                "responses": {
                    "200": _ok("The user", shapes.Account),
                    "404": _error("user_not_found"),
                    **SERVICE_ERRORS,
                },
            }
        },
        "/service/users/{telegram_id}/debits": {
            "post": {
                "summary": "Spend Stars from the balance, exactly once per Idempotency-Key",
                "description": "Never takes a balance below zero. The same key again with the "
                "same user, amount and reason within IDEMPOTENCY_KEY_RETENTION_HOURS (24 by "
                "default) is answered with the first answer and 'Idempotent-Replayed: true'; "
                "with anything else it is refused (422 idempotency_key_reused); while the "
                "first is still being worked on, 409 idempotency_key_in_flight (retry "
                "unchanged). insufficient_balance records nothing. After the retention the "
                "key is a new request (docs/spending.md, Idempotency keys).",
                "security": SERVICE_SECURITY,
                "parameters": [
                    TELEGRAM_ID,
                    key_param("debit"),
                ],
                "requestBody": {"required": True, "content": _json(shapes.DebitRequest)},
                "responses": {
                    "201": {
                        **_ok("Debited (or the first answer of this key, replayed)", shapes.Debit),
                        "headers": {
                            "Idempotent-Replayed": {
                                "description": "'true' when this is the first answer again",
                                "schema": {"type": "string", "enum": ["true"]},
                            }
                        },
                    },
                    "400": _error(
                        "missing_idempotency_key, duplicate_idempotency_key, "
                        "invalid_idempotency_key, invalid_json, invalid_body, invalid_amount, "
                        "invalid_reason"
                    ),
                    "404": _error("user_not_found"),
                    "408": BODY_ERRORS["408"],
                    "409": {
                        **_error(
                            "idempotency_key_in_flight: the key's first request is still being "
                            "worked on; send it again unchanged after Retry-After"
                        ),
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    },
                    "422": _error(
                        "insufficient_balance (error.stars_balance is the balance; nothing "
                        "recorded) or idempotency_key_reused (the key was used for another "
                        "user, amount or reason)"
                    ),
                    "413": _error("Body over 64 KiB"),
                    **SERVICE_ERRORS,
                },
            }
        },
        "/service/debits/{debit_id}/reversal": {
            "post": {
                "summary": "Give a debit's Stars back, once",
                "security": SERVICE_SECURITY,
                "parameters": [
                    _path_param("debit_id", "The debit's id", type="string", format="uuid")
                ],
                "requestBody": {"required": False, "content": _json(shapes.ReversalRequest)},
                "responses": {
                    "201": _ok(
                        "Reversed now; stars_balance is the balance after it", shapes.Debit
                    ),
                    "200": _ok("Reversed before: the same answer, nothing changed", shapes.Debit),
                    "400": _error("invalid_json, invalid_body, invalid_reason"),
                    "404": _error("debit_not_found"),
                    **BODY_ERRORS,
                    **SERVICE_ERRORS,
                },
            }
        },
        "/service/users/{telegram_id}/ledger": {
            "get": {
                "summary": "A user's ledger, newest first, a page at a time",
                "security": SERVICE_SECURITY,
                "parameters": [TELEGRAM_ID, *PAGE_PARAMS],
                "responses": {
                    "200": _ok("A page", shapes.LedgerPage),
                    "404": _error("user_not_found"),
                    **PAGE_ERRORS,
                    **SERVICE_ERRORS,
                },
            }
        },
    }


def _adjustment_path() -> dict[str, Any]:
    """POST /service/users/{telegram_id}/adjustments (api/adjustments.py)."""
    return {
        "post": {
            "summary": "Correct a balance with an audited adjustment, once per Idempotency-Key",
            "description": "An `adjustment` ledger row recording the calling key's label "
            "(SERVICE_API_KEYS `label:key`) and the reason. Never below zero unless "
            "allow_negative. The same key again with the same user, amount and reason is "
            "answered with the first answer and 'Idempotent-Replayed: true'.",
            "security": SERVICE_SECURITY,
            "parameters": [
                TELEGRAM_ID,
                key_param("adjustment"),
            ],
            "requestBody": {"required": True, "content": _json(shapes.AdjustmentRequest)},
            "responses": {
                "201": _ok(
                    "Adjusted (or the first answer of this key, replayed)", shapes.Adjustment
                ),
                "400": _error(
                    "missing_idempotency_key, invalid_idempotency_key, "
                    "duplicate_idempotency_key, invalid_json, invalid_body, invalid_amount, "
                    "invalid_reason"
                ),
                "404": _error("user_not_found"),
                "422": _error(
                    "insufficient_balance (it would go below zero) or idempotency_key_reused"
                ),
                "413": _error("Body over 64 KiB"),
                **SERVICE_ERRORS,
            },
        }
    }


def build_spec(
    *, development: bool, service: bool = False, packages: list[int] | None = None
) -> dict[str, Any]:
    """The document; `packages` are STAR_PACKAGES (a top-up's amount is one of them)."""
    paths: dict[str, Any] = {
        "/health": {
            "get": {
                "summary": "Liveness and database check",
                "security": [],
                "responses": {
                    "200": _ok("The database answers", shapes.Health),
                    "503": _ok("The database does not answer", shapes.Health),
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
        "/gifts": {
            "get": {
                "summary": "Telegram's gift catalog and the Premium offers, for the Mini App",
                "responses": {
                    **AUTH_ERRORS,
                    **CATALOG,
                    "503": {**_error("catalog_unavailable, …"), "headers": RETRY_AFTER},
                },
            },
            "post": {
                "summary": "The caller sends a catalog gift to themselves from their balance",
                "description": "The rules of POST /service/users/{telegram_id}/gifts, with the "
                "caller as buyer and recipient.",
                "parameters": [IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": _json(shapes.MiniAppGiftRequest)},
                "responses": {
                    **AUTH_ERRORS,
                    "201": {**_ok("Sent or failed", shapes.GiftPurchase), "headers": REPLAYED},
                    "202": {**_ok("Pending", shapes.GiftPurchase), "headers": REPLAYED},
                    "400": _error("missing_idempotency_key, invalid_json, invalid_body, …"),
                    "404": _error("unknown_gift"),
                    "409": _error("gift_sold_out, price_changed"),
                    "422": _error("insufficient_balance, idempotency_key_reused"),
                    **BODY_ERRORS,
                    "503": {
                        **_error("bot_balance_low, catalog_unavailable, …"),
                        "headers": RETRY_AFTER,
                    },
                },
            },
        },
        "/payments/packages": {
            "get": {
                "summary": "The Stars packages on offer",
                "security": [],
                "responses": {"200": _ok("Packages", shapes.Packages)},
            }
        },
        "/me": {
            "get": {
                "summary": "The caller's Telegram id and Stars balance",
                "responses": {"200": _ok("Balance", shapes.Me), **AUTH_ERRORS},
            }
        },
        "/me/ledger": {
            "get": {
                "summary": "The caller's own ledger, newest first, a page at a time",
                "parameters": PAGE_PARAMS,
                "responses": {
                    "200": _ok("A page", shapes.LedgerPage),
                    **PAGE_ERRORS,
                    **AUTH_ERRORS,
                },
            }
        },
        "/payments/top-up": {
            "post": {
                "summary": "Open a pending order and create its Telegram Stars invoice link",
                "requestBody": _amount_body(
                    {"enum": packages} if packages else {"minimum": 1, "maximum": 100_000}
                ),
                "responses": {
                    **AUTH_ERRORS,  # first: the 503 below names more
                    "201": _ok(
                        "Order created; open invoice_url with Telegram.WebApp.openInvoice",
                        shapes.TopUp,
                    ),
                    "200": _ok(
                        "The caller's open order of this amount, given back with its link",
                        shapes.TopUp,
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
                        **_error(
                            "telegram_busy (Telegram's flood wait), database_unavailable, "
                            f"{OVERLOADED}"
                        ),
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    },
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
                    "200": _ok("The order", shapes.Payment),
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
                "requestBody": _amount_body({"minimum": 1, "maximum": MAX_DEV_CREDIT}),
                "responses": {
                    "200": _ok("New balance", shapes.Me),
                    "400": _error("Malformed or unreadable body, or a wrong amount"),
                    **BODY_ERRORS,
                    **AUTH_ERRORS,
                },
            }
        }
    if service:
        paths.update(_service_paths())
        paths["/service/users/{telegram_id}/adjustments"] = _adjustment_path()
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Telegram Stars top-up API",
            "version": "1.0.0",
            "description": "The Mini App authenticates with 'Authorization: tma "
            "<Telegram.WebApp.initData>'; an app's backend calls /service/… (present when "
            "SERVICE_API_KEYS is set) with 'Authorization: Bearer <service key>'.",
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
                },
                "serviceKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "One of SERVICE_API_KEYS (the app's backend only).",
                },
            },
            "schemas": SCHEMAS,
        },
    }


async def openapi(request: web.Request) -> web.Response:
    settings = request.app[settings_key]
    return web.json_response(
        build_spec(
            development=settings.is_development,
            service=bool(settings.service_keys),
            packages=settings.star_packages,
        )
    )
