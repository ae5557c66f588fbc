from tests.bot.conftest import emulator

__all__ = ["emulator"]
