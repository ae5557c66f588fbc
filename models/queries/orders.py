"""Orders as their buyer and the operator see them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from models.queries.charges import chunks
from models.tables import TopUpOrder


async def find_order(order_id: uuid.UUID, *, user_id: int | None = None) -> TopUpOrder | None:
    """The order; with `user_id`, only if it is that user's (someone else's order is as
    unknown to a caller as a made-up id)."""
    query = TopUpOrder.filter(id=order_id)
    if user_id is not None:
        query = query.filter(user_id=user_id)
    return await query.first()


async def order_amounts(order_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The amount of each of these orders that exists."""
    amounts: dict[uuid.UUID, int] = {}
    for chunk in chunks(sorted(set(order_ids))):
        for order_id, amount in await TopUpOrder.filter(id__in=chunk).values_list("id", "amount"):
            amounts[uuid.UUID(str(order_id))] = int(amount)
    return amounts
