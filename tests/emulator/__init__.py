"""A Telegram Bot API emulator for tests and for trying the system without Telegram."""

from tests.emulator.server import (
    ApiError,
    BotApiEmulator,
    BotState,
    ChatFault,
    Fault,
    PaymentOutcome,
    Poll,
    running_emulator,
)

__all__ = [
    "ApiError",
    "BotApiEmulator",
    "BotState",
    "ChatFault",
    "Fault",
    "PaymentOutcome",
    "Poll",
    "running_emulator",
]
