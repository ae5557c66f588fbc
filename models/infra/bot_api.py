"""Where the Bot API is: Telegram itself, its test environment, or another Bot API
server (a local one, or the emulator in tests).

No Bot API library is loaded here: the API process calls one method by itself
(api/invoices.py), and aiogram alone would triple its memory.
"""

from __future__ import annotations

from models.infra.settings import Settings

TELEGRAM = "https://api.telegram.org"


def url_templates(settings: Settings) -> tuple[str, str]:
    """The URL of a method and of a file, with `{token}` and `{method}` / `{path}` to
    fill in (aiogram's TelegramAPIServer takes them as they are)."""
    base = (settings.telegram_api_url or TELEGRAM).rstrip("/")
    test = "/test" if settings.telegram_test_env else ""
    return f"{base}/bot{{token}}{test}/{{method}}", f"{base}/file/bot{{token}}{test}/{{path}}"


def method_url(settings: Settings, method: str) -> str:
    """The URL to call `method` at. It holds the bot token: never log it."""
    return url_templates(settings)[0].format(token=settings.token, method=method)
