"""How many orders a buyer may open, and for how long a paid-for order is left alone."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from models.infra.sql import as_datetime
from models.refusals import Refusal, Refused

# How long after an approved pre-checkout an order counts as being paid: Telegram
# completes or drops a payment within seconds, and a payment whose update was lost is
# credited by reconciliation within RECONCILE_INTERVAL (300 s by default).
PAYING_WINDOW = timedelta(minutes=15)


def rate_limit(
    recent: int, oldest_recent: datetime | str | None, per_minute: int, now: datetime
) -> Refused | None:
    """The refusal of a new order past `per_minute`, if it is past; the wait is until
    the oldest order of the window leaves it."""
    if recent < per_minute or oldest_recent is None:
        return None
    frees_at = as_datetime(oldest_recent) + timedelta(minutes=1)
    wait = math.ceil((frees_at - now).total_seconds())
    return Refused(Refusal.RATE_LIMITED, retry_after=max(1, wait))
