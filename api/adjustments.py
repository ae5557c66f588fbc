"""POST /service/users/{telegram_id}/adjustments: an app's backend corrects a balance.

A thin adapter over `models.ledger.adjustments`: the calling key's label (SERVICE_API_KEYS
`label:key`) is recorded as who made it, and the Idempotency-Key header makes a retry an
answer rather than a second adjustment, as for debits (`api/service.py`). Served only
when SERVICE_API_KEYS is set, like every /service/… route.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from api import shapes
from api.bodies import read_object
from api.errors import ApiError
from api.idempotency import read_key
from api.service import path_telegram_id
from api.service_auth import service_caller, service_key_labels_key
from api.views import iso
from models.infra.settings import Settings
from models.ledger.adjustments import AdjustmentReceipt, adjust

log = structlog.get_logger("api")


def adjustment_body(item: AdjustmentReceipt) -> shapes.Adjustment:
    return {
        "adjustment_id": str(item.id),
        "telegram_id": item.user_id,
        "amount": item.amount,
        "reason": item.reason,
        "by": item.actor,
        "stars_balance": item.stars_balance,
        "created_at": iso(item.created_at),
    }


async def post_adjustment(request: web.Request) -> web.Response:
    label = request.app[service_key_labels_key][service_caller(request)]
    user_id = path_telegram_id(request)
    # The debits' header rules (quoted = bare, the header twice refused): a retry in
    # the other spelling must answer, not adjust again.
    key = read_key(request, example="adjustment-8812")
    body = await read_object(request, '{"amount": -10, "reason": "duplicate gift"}')
    allow_negative = body.get("allow_negative", False)
    if type(allow_negative) is not bool:
        raise ApiError(400, "invalid_body", "allow_negative must be true or false.")
    # adjust() checks the types of what the client sent; its refusals are answered by
    # the request middleware (api/refusals.py).
    result = await adjust(
        user_id,
        body.get("amount"),  # type: ignore[arg-type]
        body.get("reason"),  # type: ignore[arg-type]
        label,
        idempotency_key=key,
        allow_negative=allow_negative,
        source="service",
    )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    log.info(
        "adjustment.replayed" if result.replayed else "adjustment.recorded",
        adjustment_id=str(result.adjustment.id),
        amount=result.adjustment.amount,
        by=label,
    )
    return web.json_response(adjustment_body(result.adjustment), status=201, headers=headers)


def setup_adjustment_routes(app: web.Application, settings: Settings) -> None:
    if not settings.service_keys:
        return
    app[service_key_labels_key] = tuple(settings.service_key_labels)
    app.router.add_post("/service/users/{telegram_id}/adjustments", post_adjustment)
