"""The checks that prove no Star was lost or doubled.

`check_ledger` reads only the database. Given Telegram's own record of our payments
(`models.reconciliation.record.TelegramRecord`, read from getStarTransactions), it
also proves that every payment Telegram took is on the ledger and every refund is
recorded;
payments made before this database's deployment are listed for the operator instead
(they are credited only by an explicit backfill).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient

from models.kinds import Anomaly, EntryKind, OrderStatus
from models.reconciliation.record import TelegramRecord
from models.tables import LedgerEntry, TopUpOrder


@dataclass
class Report:
    checks: list[tuple[str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # What the operator should know and may act on, but that breaks no invariant.
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, name: str, problems: list[str]) -> None:
        self.checks.append((name, len(problems)))
        self.problems.extend(problems)

    def render(self) -> str:
        width = max(len(name) for name, _ in self.checks) if self.checks else 10
        lines = [f"{'check':<{width}}  result"]
        for name, count in self.checks:
            lines.append(f"{name:<{width}}  {'ok' if count == 0 else f'FAILED ({count})'}")
        lines.extend(f"  - {problem}" for problem in self.problems[:200])
        if len(self.problems) > 200:
            lines.append(f"  … and {len(self.problems) - 200} more")
        if self.notes:
            lines.append("for the operator:")
            lines.extend(f"  - {note}" for note in self.notes[:200])
        lines.append("all invariants hold" if self.ok else "INVARIANTS VIOLATED")
        return "\n".join(lines)


async def check_ledger(telegram: TelegramRecord | None = None) -> Report:
    report = Report()
    conn = Tortoise.get_connection("default")

    _, rows = await conn.execute_query(
        "SELECT u.id, u.stars_balance, COALESCE(SUM(l.amount), 0) AS total "
        "FROM users u LEFT JOIN ledger_entries l ON l.user_id = u.id "
        "GROUP BY u.id, u.stars_balance HAVING u.stars_balance <> COALESCE(SUM(l.amount), 0)"
    )
    report.add(
        "balance equals ledger sum",
        [
            f"user {r['id']}: balance {r['stars_balance']} but ledger sums to {r['total']}"
            for r in rows
        ],
    )

    report.add("each user's ledger is a chain of balances", await _chain_problems(conn))

    _, rows = await conn.execute_query(
        "SELECT telegram_payment_charge_id AS charge, kind, COUNT(*) AS n FROM ledger_entries "
        "WHERE telegram_payment_charge_id IS NOT NULL "
        "GROUP BY telegram_payment_charge_id, kind HAVING COUNT(*) > 1"
    )
    report.add(
        "no charge applied twice",
        [f"charge {r['charge']}: {r['n']} {r['kind']} entries" for r in rows],
    )
    report.add("each gift purchase's ledger rows match its state", await _gift_problems(conn))

    topups = dict(
        await LedgerEntry.filter(kind=EntryKind.TOPUP).values_list(
            "telegram_payment_charge_id", "amount"
        )
    )
    refunds = set(
        await LedgerEntry.filter(kind=EntryKind.REFUND).values_list(
            "telegram_payment_charge_id", flat=True
        )
    )
    paid = await TopUpOrder.filter(
        status__in=[OrderStatus.PAID, OrderStatus.REFUNDED]
    ).values_list("id", "telegram_payment_charge_id")
    report.add(
        "every paid order has its ledger entry",
        [
            f"order {oid} (charge {charge}) has no top-up entry"
            for oid, charge in paid
            if charge not in topups
        ],
    )
    report.add(
        "every refund follows a top-up",
        [
            f"refund of charge {charge} has no top-up entry"
            for charge in refunds
            if charge not in topups
        ],
    )

    foreign = await LedgerEntry.filter(kind=EntryKind.TOPUP, anomaly=Anomaly.CURRENCY).values_list(
        "telegram_payment_charge_id", "user_id", "note"
    )
    report.notes.extend(
        f"charge {charge} of user {user_id}: {note} (settle it with the payer)"
        for charge, user_id, note in foreign
    )

    if telegram is not None:
        _compare_with_telegram(report, telegram, topups, refunds)
    return report


BEFORE_DEPLOYMENT_LISTED = 50


def _compare_with_telegram(
    report: Report, telegram: TelegramRecord, topups: dict[str, int], refunds: set[Any]
) -> None:
    early = {c: p for c, p in telegram.before_deployment.items() if c not in topups}

    def wrong(charge: str, amount: int) -> str:
        figure = f"{amount} XTR"
        if charge in telegram.affiliate:
            net, share = telegram.affiliate[charge]
            figure += f" (net {net} + affiliate share {share})"
        return f"Telegram payment {charge} is {figure} but the ledger says {topups[charge]}"

    report.add(
        "every Telegram payment is on the ledger",
        [
            f"Telegram payment {charge} ({amount} XTR) is not on the ledger"
            for charge, amount in telegram.payments.items()
            if charge not in topups and charge not in early
        ]
        + [
            wrong(charge, amount)
            for charge, amount in telegram.payments.items()
            if charge in topups and topups[charge] != amount
        ],
    )
    report.add(
        "every Telegram refund is recorded",
        [
            f"Telegram refund of {charge} is not recorded"
            for charge in telegram.refunds
            # A refund of a payment from before deployment nets to nothing for us.
            if charge not in refunds and charge not in early
        ],
    )
    waiting = sorted(
        ((c, p) for c, p in early.items() if c not in telegram.refunds), key=lambda i: i[1][2]
    )
    if waiting:
        deployed = f" on {telegram.deployed_at:%Y-%m-%d %H:%M} UTC" if telegram.deployed_at else ""
        report.notes.append(
            f"{len(waiting)} Telegram payments ({sum(p[1] for _, p in waiting)} XTR) were "
            f"made before deployment{deployed} and are not credited; "
            "`run_bot.py backfill --dry-run` shows what a backfill would credit"
        )
        report.notes.extend(
            f"before deployment: charge {charge} of user {user}, {amount} XTR, "
            f"paid {paid:%Y-%m-%d %H:%M:%S}"
            for charge, (user, amount, paid) in waiting[:BEFORE_DEPLOYMENT_LISTED]
        )
        if len(waiting) > BEFORE_DEPLOYMENT_LISTED:
            more = len(waiting) - BEFORE_DEPLOYMENT_LISTED
            report.notes.append(f"… and {more} more before deployment")
    if telegram.skipped:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(telegram.skipped.items()))
        report.notes.append(f"not our payments or refunds, so not compared: {kinds}")
    report.notes.extend(
        f"unreadable, so not compared (look it up by hand): {item}" for item in telegram.unreadable
    )


async def _gift_problems(conn: BaseDBAsyncClient) -> list[str]:
    """One debit of its price per purchase; a sent one has its `gift_sent` row, a failed
    one its price given back (`gift_reversal`), a pending one neither."""
    _, rows = await conn.execute_query(
        "SELECT g.id, g.state, g.star_count, "
        "SUM(CASE WHEN l.kind IN ('gift', 'premium') THEN 1 ELSE 0 END) AS debits, "
        "SUM(CASE WHEN l.kind IN ('gift', 'premium') THEN l.amount ELSE 0 END) AS debited, "
        "SUM(CASE WHEN l.kind = 'gift_sent' THEN 1 ELSE 0 END) AS sent, "
        "SUM(CASE WHEN l.kind = 'gift_reversal' THEN 1 ELSE 0 END) AS reversals, "
        "SUM(CASE WHEN l.kind = 'gift_reversal' THEN l.amount ELSE 0 END) AS returned "
        "FROM gifts g LEFT JOIN ledger_entries l ON l.gift_id = g.id "
        "GROUP BY g.id, g.state, g.star_count"
    )
    problems = []
    for r in rows:
        price, state = int(r["star_count"]), str(r["state"])
        expected = (
            1,
            -price,
            int(state == "sent"),
            int(state == "failed"),
            price if state == "failed" else 0,
        )
        found = tuple(
            int(r[name] or 0) for name in ("debits", "debited", "sent", "reversals", "returned")
        )
        if found != expected:
            problems.append(
                f"gift purchase {r['id']} ({state}, {price} Stars): debits {found[0]} of "
                f"{-found[1]}, sent rows {found[2]}, reversals {found[3]} of {found[4]}"
            )
    return problems


async def _chain_problems(conn: BaseDBAsyncClient) -> list[str]:
    """Each row's balance-after is the previous row's (0 before the first) plus its
    amount, in id order per user, and the newest one is the user's balance."""
    _, rows = await conn.execute_query(
        "SELECT id, user_id, amount, stars_balance_after, before FROM ("
        "SELECT id, user_id, amount, stars_balance_after, COALESCE(LAG(stars_balance_after) "
        "OVER (PARTITION BY user_id ORDER BY id), 0) AS before FROM ledger_entries) AS chain "
        "WHERE before + amount <> stars_balance_after ORDER BY id"
    )
    problems = [
        f"user {r['user_id']}: entry {r['id']} ({r['amount']:+}) says the balance became "
        f"{r['stars_balance_after']}, but the entry before left {r['before']}"
        for r in rows
    ]
    _, rows = await conn.execute_query(
        "SELECT u.id, u.stars_balance, l.id AS entry, l.stars_balance_after FROM users u "
        "JOIN ledger_entries l "
        "ON l.id = (SELECT MAX(id) FROM ledger_entries WHERE user_id = u.id) "
        "WHERE l.stars_balance_after <> u.stars_balance"
    )
    problems.extend(
        f"user {r['id']}: balance {r['stars_balance']} but the newest entry {r['entry']} "
        f"says {r['stars_balance_after']}"
        for r in rows
    )
    return problems
