"""The dispatcher: routers, the per-update middleware and the error handler."""

from __future__ import annotations

import structlog
from aiogram import Bot, Dispatcher
from aiogram.types import ErrorEvent

from bot.handlers import create_routers
from bot.lanes import Lanes
from bot.middlewares import ProfileCache, RunningHandlers, UpdateMiddleware
from bot.notifier import Notifier
from bot.texts import text
from bot.throttle import Throttle
from models.infra.settings import Settings
from models.values import utcnow

log = structlog.get_logger("bot")

# Sent on every getUpdates: a list left over from an older deployment that lacks
# pre_checkout_query would otherwise make every checkout time out.
ALLOWED_UPDATES = ["message", "pre_checkout_query"]


def create_dispatcher(
    settings: Settings,
    *,
    notifier: Notifier,
    running: RunningHandlers,
    profiles: ProfileCache,
    lanes: Lanes,
    support_throttle: Throttle,
) -> Dispatcher:
    dispatcher = Dispatcher(
        # No handler keeps conversation state. The FSM middleware would look up a
        # context for every update, and its MemoryStorage keeps a record for every
        # chat it has seen for the life of the process.
        disable_fsm=True,
        settings=settings,
        notifier=notifier,
        support_throttle=support_throttle,
        # Updates dated before this waited at Telegram while no worker polled: the
        # payment handlers check those against the deployment cut-off. Telegram dates
        # are whole seconds, so only a whole second before counts.
        started_at=utcnow().replace(microsecond=0),
    )
    # In this order: an update waiting for its lane already counts as in flight, so
    # shutdown waits for it too.
    dispatcher.update.outer_middleware(UpdateMiddleware(running, profiles))
    dispatcher.update.outer_middleware(lanes)
    dispatcher.include_routers(*create_routers())
    dispatcher.errors.register(on_error)
    return dispatcher


async def on_error(event: ErrorEvent, bot: Bot) -> bool:
    """Log for the operator, apologise to the user, never show them the error."""
    log.error(
        "update.failed",
        update_id=event.update.update_id,
        error=repr(event.exception),
        exc_info=event.exception,
    )
    message = event.update.message
    if message is not None and message.successful_payment is None:
        lang = message.from_user.language_code if message.from_user else None
        try:
            await bot.send_message(message.chat.id, text(lang, "database_unavailable"))
        except Exception as error:
            log.warning("update.apology_failed", error=repr(error))
    return True
