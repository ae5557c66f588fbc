"""Payment metrics in the Prometheus text format, shared by both processes.

Each process exports its own: the API at /metrics, the bot worker on
BOT_METRICS_PORT. Labels only take values from small fixed sets (never user ids).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:  # loaded when serving: an operator command records but never serves
    from aiohttp import web

ORDERS_OPENED = Counter("stars_orders_opened", "Top-up orders opened by the API")
INVOICE_FAILURES = Counter(
    "stars_invoice_failures", "Invoice links Telegram did not create", ["reason"]
)
TOPUP_SECONDS = Histogram(
    "stars_topup_request_seconds",
    "Time to answer POST /payments/top-up",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REQUESTS_SHED = Counter(
    "stars_api_requests_shed",
    "API requests answered 503 overloaded: API_MAX_IN_FLIGHT were being worked on",
)
PRECHECKOUTS = Counter("stars_precheckouts", "Pre-checkout queries answered", ["result", "reason"])
PRECHECKOUT_SECONDS = Histogram(
    "stars_precheckout_answer_seconds",
    "Time from receiving a pre-checkout query to Telegram accepting the answer",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 10),
)
CREDITS = Counter("stars_charges_credited", "Charges credited to a balance", ["source"])
CREDITED_STARS = Counter("stars_credited_stars", "Stars credited by charges", ["source"])
DUPLICATES = Counter("stars_charge_duplicates", "Charges reported again and ignored", ["source"])
ANOMALIES = Counter("stars_charge_anomalies", "Charges that did not match their order", ["kind"])
CREDIT_SECONDS = Histogram(
    "stars_credit_seconds",
    "Time to credit one charge in the database",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
REFUNDS = Counter("stars_refunds_recorded", "Refunds recorded on the ledger", ["source"])
ROWS_PRUNED = Counter(
    "stars_rows_pruned",
    "Finished rows deleted past their retention (events, notices)",
    ["table"],
)
for _table in ("events", "notices"):  # at 0 from the start, so increases show
    ROWS_PRUNED.labels(_table)
RECONCILE_PASSES = Counter("stars_reconcile_passes", "Reconciliation passes", ["outcome"])
RECONCILE_RECOVERED = Counter(
    "stars_reconcile_recovered", "What reconciliation found missing and recorded", ["kind"]
)
RECONCILE_SKIPPED = Counter(
    "stars_reconcile_skipped",
    "Telegram transactions reconciliation reads but does not act on (not our payments or "
    "refunds), by kind: partner:<type>, user:<transaction_type>, partner:unknown, "
    "user:unknown",
    ["kind"],
)
RECONCILE_FAILED = Counter(
    "stars_reconcile_failed_items",
    "Telegram transactions reconciliation could not read (unreadable) or record (apply); "
    "the pass goes on, and a failed record is tried again next pass",
    ["reason"],
)
RECONCILE_BEFORE_DEPLOYMENT = Counter(
    "stars_reconcile_before_deployment",
    "Invoice payments and refunds dated before this database's deployment: listed, "
    "never credited by reconciliation (run_bot.py backfill credits them)",
    ["kind"],
)
DEBITS = Counter("stars_debits", "Debits recorded (models.ledger.debits)")
DEBITED_STARS = Counter("stars_debited_stars", "Stars taken from balances by debits")
DEBIT_REFUSALS = Counter(
    "stars_debit_refusals",
    "Debits refused: insufficient_balance, idempotency_key_reused, user_not_found",
    ["reason"],
)
DEBIT_REPLAYS = Counter(
    "stars_debit_replays", "Debit requests answered with the first answer of their key"
)
DEBIT_REVERSALS = Counter("stars_debit_reversals", "Debits reversed (credited back)")
COMMANDS_SHED = Counter(
    "stars_commands_shed", "Commands dropped unanswered because the backlog was full"
)
# Balance events to the app's backend (bot/events.py); alert rules use these names.
EVENTS_DELIVERED = Counter("stars_events_delivered", "Events the app's backend accepted (2xx)")
EVENTS_RETRIED = Counter(
    "stars_events_retried", "Event deliveries that failed and were scheduled again"
)
EVENTS_ABANDONED = Counter(
    "stars_events_abandoned",
    "Events given up on after three days of failed deliveries (run_bot.py events redeliver)",
)
EVENTS_OLDEST_UNDELIVERED = Gauge(
    "stars_events_oldest_undelivered_seconds",
    "Age of the oldest event neither delivered nor abandoned (0 when none is waiting)",
)
NOTICES = Counter("stars_notices", "Messages to users", ["outcome"])
NOTICES_PENDING = Gauge(
    "stars_notices_pending", "Messages to users not sent yet (due or waiting for a retry)"
)
NOTICES_OLDEST_PENDING = Gauge(
    "stars_notices_oldest_pending_seconds",
    "Age of the oldest message to a user not sent yet (0 when none)",
)
WORKER_LEADER = Gauge(
    "stars_worker_leader",
    "1 while this worker holds the polling lease and polls Telegram, else 0 (standing by)",
)
LAST_POLL = Gauge("stars_last_poll_timestamp_seconds", "When getUpdates last succeeded")
LAST_RECONCILE = Gauge(
    "stars_last_reconcile_timestamp_seconds", "When a reconciliation pass last completed"
)

BOT_BALANCE = Gauge(
    "stars_bot_balance",
    "The bot's own Telegram Stars (getMyStarBalance) when last read; refunds draw on them",
)

GIFTS_REQUESTED = Counter("stars_gifts_requested", "Gift and Premium purchases accepted", ["kind"])
GIFTS_SENT = Counter("stars_gifts_sent", "Gift and Premium purchases settled sent", ["how"])
GIFTS_FAILED = Counter(
    "stars_gifts_failed", "Gift and Premium purchases failed, their Stars given back", ["reason"]
)
GIFT_UNKNOWN_OUTCOMES = Counter(
    "stars_gift_unknown_outcomes",
    "Purchase calls whose outcome Telegram did not tell (settled from getStarTransactions)",
)
GIFT_LATE_PURCHASES = Counter(
    "stars_gift_late_purchases",
    "Purchases Telegram made after their settling window failed them (Stars given back)",
)
GIFT_REFUSALS = Counter(
    "stars_gift_refusals", "Gift requests refused before anything was debited", ["reason"]
)
GIFTS_UNSETTLED_OLDEST = Gauge(
    "stars_gifts_unsettled_oldest_seconds",
    "Age of the oldest purchase attempt whose outcome is not settled yet (0: none)",
)
USERS_STARS_TOTAL = Gauge(
    "stars_users_balance_total", "The sum of every user's balance, as last counted"
)

# A labelled series exists only once touched, and the alert rules (alerts.yml) take
# increase() of these: a series first seen at 1 shows no increase, so the first lost
# payment after a start would never alert. They start at 0 instead.
for _outcome in ("complete", "partial", "failed"):
    RECONCILE_PASSES.labels(_outcome)
for _kind in ("payment", "refund"):
    RECONCILE_RECOVERED.labels(_kind)
RECONCILE_FAILED.labels("given_up")
PRECHECKOUTS.labels("approved", "ok")
PRECHECKOUTS.labels("rejected", "check_failed")
for _reason in ("refused", "unreachable", "flood_wait"):
    INVOICE_FAILURES.labels(_reason)
for _outcome in ("sent", "retried", "flood_wait", "blocked", "undeliverable", "abandoned"):
    NOTICES.labels(_outcome)
for _how in ("answered", "settled"):
    GIFTS_SENT.labels(_how)
for _reason in ("refused", "not_in_ledger", "operator"):
    GIFTS_FAILED.labels(_reason)
GIFT_REFUSALS.labels("bot_balance_low")


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


async def serve(_: web.Request) -> web.Response:
    """GET /metrics, the same in both processes: the API's route and the worker's server."""
    from aiohttp import web

    body, content_type = render()
    return web.Response(body=body, headers={"Content-Type": content_type})
