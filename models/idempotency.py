"""Idempotency keys: one request's outcome per key, for the retention period (the IETF
httpapi draft `Idempotency-Key`, and what Stripe does).

A caller (a debit, `models.ledger.debits`; any other operation that moves money once
per key) uses three steps:

1. `begin(scope, key, fingerprint)` claims the key in a statement of its own, committed
   at once, so a twin request never waits on an open transaction (nor holds a database
   connection waiting). It returns a `Claim`, or the first request's `result` when that
   one completed with the same `fingerprint` (the request, canonically); it raises
   `Refused(IDEMPOTENCY_KEY_REUSED)` for another fingerprint, and
   `Refused(IDEMPOTENCY_KEY_IN_FLIGHT)` while the first is still being worked on.
2. `complete(conn, claim, result)` inside the caller's own transaction, as its first
   write: the key holds `result` (the id of what was made) exactly when that
   transaction commits. If the claim was lost meanwhile it raises `ClaimLost` and the
   caller's transaction rolls back, so two holders never both commit.
3. `release(claim)` when the request was refused or failed and made nothing: the key
   is free again (validation failures and refusals are not remembered).

A claim lasts `CLAIM_LEASE`: a process that dies between steps 1 and 2 leaves its twin
a 409 for that long, then the key may be claimed again. A completed key holds its result
for the retention period (IDEMPOTENCY_KEY_RETENTION_HOURS, at least a day) counted from
the claim that made it (a dead holder's lapsed claim counts for nothing); after it,
the same key is a new request. What the request made (a debit and its ledger rows) is
kept forever; only the key's hold on it lapses. `prune` deletes keys past it.

Keys are scoped: `scope` names the operation ("debit"), so one operation's keys never
reach another's results.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient

from models.infra.sql import as_datetime, execute
from models.refusals import Refusal, Refused
from models.values import utcnow

CLAIM_LEASE = timedelta(seconds=30)  # far beyond one transaction; a dead holder's wait
DEFAULT_RETENTION = timedelta(hours=24)
IN_FLIGHT_RETRY_AFTER = 1  # seconds a twin is told to wait before asking again


@dataclass(frozen=True, slots=True)
class Claim:
    scope: str
    key: str
    token: uuid.UUID


@dataclass(frozen=True, slots=True)
class Completed:
    """The key's first request completed: `result` is what it recorded."""

    result: str


class ClaimLost(Exception):
    """The claim ran out and another request took the key; roll back."""


def _db() -> BaseDBAsyncClient:
    return Tortoise.get_connection("default")


async def begin(
    scope: str,
    key: str,
    fingerprint: str,
    *,
    now: datetime | None = None,
    retention: timedelta = DEFAULT_RETENTION,
) -> Claim | Completed:
    """Claim `key` for a request, or answer with its first request's result (above)."""
    now = now or utcnow()
    for _ in range(5):  # each pass either decides or saw the row change under it
        # Read first: a read never waits, while an INSERT meeting the key's row would
        # wait on PostgreSQL for the transaction completing it (the first request's).
        _, rows = await execute(
            _db(),
            "SELECT fingerprint, state, token, locked_until, created_at, result "
            "FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2",
            scope,
            key,
        )
        token = uuid.uuid4()
        if not rows:
            # A claim is one statement, committed at once: a racing one waits for it a
            # moment at most, then finds the key taken and reads it on the next pass.
            inserted, _ = await execute(
                _db(),
                "INSERT INTO idempotency_keys (scope, idempotency_key, fingerprint, state, "
                "token, locked_until, created_at) VALUES ($1, $2, $3, 'in_flight', $4, $5, $6) "
                "ON CONFLICT (scope, idempotency_key) DO NOTHING RETURNING token",
                scope,
                key,
                fingerprint,
                token,
                now + CLAIM_LEASE,
                now,
            )
            if inserted:
                return Claim(scope, key, token)
            continue
        row = rows[0]
        expired = as_datetime(row["created_at"]) <= now - retention
        if not expired and row["fingerprint"] != fingerprint:
            raise Refused(Refusal.IDEMPOTENCY_KEY_REUSED)
        lapsed = row["state"] == "in_flight" and as_datetime(row["locked_until"]) <= now
        if expired or lapsed:
            # Take it over only as it was read; a holder committing meanwhile (it holds
            # the row until then) makes this match nothing, and the next pass sees why.
            taken, _ = await execute(
                _db(),
                "UPDATE idempotency_keys SET fingerprint = $1, state = 'in_flight', "
                "token = $2, locked_until = $3, created_at = $4, result = NULL "
                "WHERE scope = $5 AND idempotency_key = $6 AND token = $7 AND state = $8",
                fingerprint,
                token,
                now + CLAIM_LEASE,
                # Retention counts from now either way: a lapsed holder made nothing,
                # so this request is the one whose result the key will hold (kept,
                # the dead claim's time left a retry of this debit a moment of it).
                now,
                scope,
                key,
                row["token"],
                row["state"],
            )
            if taken:
                return Claim(scope, key, token)
            continue
        if row["state"] == "in_flight":
            raise Refused(Refusal.IDEMPOTENCY_KEY_IN_FLIGHT, retry_after=IN_FLIGHT_RETRY_AFTER)
        return Completed(str(row["result"]))
    # The row kept changing under us: as good as a twin in flight.
    raise Refused(Refusal.IDEMPOTENCY_KEY_IN_FLIGHT, retry_after=IN_FLIGHT_RETRY_AFTER)


async def complete(conn: BaseDBAsyncClient, claim: Claim, result: str) -> None:
    """Record `result` for the claimed key in the caller's transaction `conn`; raises
    ClaimLost (roll back) if the claim is no longer this request's."""
    done, _ = await execute(
        conn,
        "UPDATE idempotency_keys SET state = 'done', result = $1, locked_until = NULL "
        "WHERE scope = $2 AND idempotency_key = $3 AND token = $4 AND state = 'in_flight'",
        result,
        claim.scope,
        claim.key,
        claim.token,
    )
    if not done:
        raise ClaimLost(claim.key)


async def release(claim: Claim) -> None:
    """Free a claimed key whose request made nothing."""
    await execute(
        _db(),
        "DELETE FROM idempotency_keys WHERE scope = $1 AND idempotency_key = $2 AND token = $3 "
        "AND state = 'in_flight'",
        claim.scope,
        claim.key,
        claim.token,
    )


async def prune(now: datetime | None = None, retention: timedelta = DEFAULT_RETENTION) -> int:
    """Delete the keys past their retention (their results stay); returns how many."""
    cutoff = (now or utcnow()) - retention
    deleted, _ = await execute(
        _db(),
        "DELETE FROM idempotency_keys WHERE created_at <= $1 AND "
        "(state = 'done' OR locked_until <= $1)",
        cutoff,
    )
    return deleted
