"""The leader's daily chores: pruning finished events and sent notices past their
retention (models/retention.py), and the admins' revenue digest (DIGEST_AT).

Run by the leading worker only, among its duties (bot/worker.py): a standby neither
prunes nor sends. Each step that fails is logged and tried again on the next round;
none stops the worker.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import structlog
from aiogram import Bot

from bot.own_stars import read_own_balance
from bot.texts import text
from models.digest import claim_day, day_bounds, due_day, figures, forget_old_claims
from models.infra.settings import Settings
from models.queries.accounts import get_account
from models.queries.invariants import check_ledger
from models.retention import Retention, prune
from models.values import utcnow

log = structlog.get_logger("bot.housekeeping")
ROUND = 30.0  # seconds between looks at the clock
PRUNE_EVERY = 3600.0
PROBLEMS_LISTED = 5


class Housekeeping:
    def __init__(
        self, bot: Bot, settings: Settings, holder: str, *, prune_every: float = PRUNE_EVERY
    ) -> None:
        self.bot = bot
        self.settings = settings
        self.holder = holder
        self.retention = Retention(settings.events_retention_days, settings.notices_retention_days)
        self.zone = ZoneInfo(settings.digest_timezone)
        self.prune_every = prune_every
        self._pruned_at: float | None = None

    async def run(self, every: float = ROUND) -> None:
        while True:
            await self.round()
            await asyncio.sleep(every)

    async def round(self, now: datetime | None = None) -> None:
        if self._pruned_at is None or time.monotonic() - self._pruned_at >= self.prune_every:
            try:
                pruned = await prune(self.retention)
                self._pruned_at = time.monotonic()
                if any(pruned.values()):
                    log.info("retention.pruned", **pruned)
            except Exception as error:
                log.warning("retention.failed", error=repr(error))
        if self.settings.digest_at and self.settings.admin_ids:
            try:
                await self.send_digest_if_due(now or utcnow())
            except Exception as error:
                log.warning("digest.failed", error=repr(error))

    async def send_digest_if_due(self, now: datetime) -> bool:
        """Send the day's digest to every admin if it is due and not yet claimed."""
        assert self.settings.digest_at is not None
        day = due_day(now, self.settings.digest_at, self.zone)
        if day is None or not await claim_day(day, self.holder):
            return False
        await forget_old_claims(day)
        since, until = day_bounds(day, self.zone)
        day_figures = await figures(since, until)
        report = await check_ledger()
        own = await read_own_balance(self.bot)
        sent = 0
        for admin in self.settings.admin_ids:
            account = await get_account(admin)
            lang = account.language_code if account else None
            check = (
                text(lang, "digest_check_ok")
                if report.ok
                else text(
                    lang,
                    "digest_check_failed",
                    count=len(report.problems),
                    problems="\n".join(f"- {p}" for p in report.problems[:PROBLEMS_LISTED]),
                )
            )
            message = text(
                lang,
                "digest",
                day=day.isoformat(),
                timezone=self.settings.digest_timezone,
                received=day_figures.received,
                payments=day_figures.payments,
                refunded=day_figures.refunded,
                spent=day_figures.spent,
                adjusted=f"{day_figures.adjusted:+}",
                own=f"{own} ⭐" if own is not None else text(lang, "digest_own_unknown"),
                check=check,
            )
            try:
                await self.bot.send_message(admin, message)
                sent += 1
            except Exception as error:  # one admin who blocked the bot stops no other
                log.warning("digest.not_sent", admin=admin, error=repr(error))
        log.info("digest.sent", day=day.isoformat(), admins=sent, ok=report.ok)
        return True
