"""How many orders a buyer may open, and for how long a paid-for order is left alone."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import StrEnum

from models.infra.sql import as_datetime


class RateLimitReason(StrEnum):
    TOO_MANY_REQUESTS = "too_many_requests"


class RateLimited(Exception):
    def __init__(self, reason: RateLimitReason, retry_after: int) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.retry_after = max(1, retry_after)


# How long after an approved pre-checkout an order counts as being paid: Telegram
# completes or drops a payment within seconds, and a payment whose update was lost is
# credited by reconciliation within RECONCILE_INTERVAL (300 s by default).
PAYING_WINDOW = timedelta(minutes=15)


def rate_limit(
    recent: int, oldest_recent: datetime | str | None, per_minute: int, now: datetime
) -> RateLimited | None:
    """Refuse a new order past `per_minute`; the wait is until the oldest order of the
    window leaves it."""
    if recent < per_minute or oldest_recent is None:
        return None
    frees_at = as_datetime(oldest_recent) + timedelta(minutes=1)
    return RateLimited(
        RateLimitReason.TOO_MANY_REQUESTS, math.ceil((frees_at - now).total_seconds())
    )
