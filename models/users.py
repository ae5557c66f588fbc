"""Users' rows: created on first sight, names refreshed, the balance never touched here."""

from __future__ import annotations

from datetime import datetime

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient

from models.infra.sql import execute
from models.values import Profile, utcnow


async def upsert_profile(conn: BaseDBAsyncClient, profile: Profile, now: datetime) -> None:
    await execute(
        conn,
        "INSERT INTO users (id, username, first_name, language_code, stars_balance, "
        "created_at, updated_at) VALUES ($1, $2, $3, $4, 0, $5, $6) ON CONFLICT (id) DO UPDATE "
        "SET username = excluded.username, first_name = excluded.first_name, "
        "language_code = excluded.language_code, updated_at = excluded.updated_at",
        profile.id,
        profile.username,
        profile.first_name,
        profile.language_code,
        now,
        now,
    )


async def upsert_user(profile: Profile) -> None:
    """Create the user or refresh its names; one statement, never touches the balance."""
    await upsert_profile(Tortoise.get_connection("default"), profile, utcnow())


async def ensure_user(conn: BaseDBAsyncClient, user_id: int) -> None:
    """A row for a user we only know by id (a payer without an order of theirs)."""
    now = utcnow()
    await execute(
        conn,
        "INSERT INTO users (id, stars_balance, created_at, updated_at) VALUES ($1, 0, $2, $3) "
        "ON CONFLICT (id) DO NOTHING",
        user_id,
        now,
        now,
    )
