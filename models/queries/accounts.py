"""Balances and users."""

from __future__ import annotations

from tortoise import Tortoise

from models.infra.sql import execute
from models.tables import User


async def get_balance(user_id: int) -> int:
    """The user's balance; 0 for a user we never saw."""
    _, rows = await execute(
        Tortoise.get_connection("default"),
        "SELECT stars_balance FROM users WHERE id = $1",
        user_id,
    )
    return int(rows[0]["stars_balance"]) if rows else 0


async def find_user(user_id: int) -> User | None:
    return await User.get_or_none(id=user_id)
