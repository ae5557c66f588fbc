"""Balances and users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise import Tortoise

from models.infra.sql import as_datetime, execute


@dataclass(frozen=True, slots=True)
class Account:
    telegram_id: int
    stars_balance: int
    username: str | None
    first_name: str | None
    language_code: str | None
    created_at: datetime


async def get_balance(user_id: int) -> int:
    """The user's balance; 0 for a user we never saw."""
    balance = await find_balance(user_id)
    return 0 if balance is None else balance


async def find_balance(user_id: int) -> int | None:
    """The user's balance; None for a user we never saw."""
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT stars_balance FROM users WHERE id = $1",
        user_id,
    )
    return int(rows[0]["stars_balance"]) if rows else None


async def get_account(user_id: int) -> Account | None:
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT id, stars_balance, username, first_name, language_code, created_at "
        "FROM users WHERE id = $1",
        user_id,
    )
    if not rows:
        return None
    row = rows[0]
    return Account(
        int(row["id"]),
        int(row["stars_balance"]),
        row["username"],
        row["first_name"],
        row["language_code"],
        as_datetime(row["created_at"]).astimezone(UTC),
    )


async def balances_total() -> int:
    """What every user holds together (balances below zero count as nothing): the Stars
    the bot owes, which its own balance must cover to honour them all."""
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT COALESCE(SUM(stars_balance), 0) AS total FROM users WHERE stars_balance > 0",
    )
    return int(rows[0]["total"])
