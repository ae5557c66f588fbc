"""Invoice links from Telegram (`createInvoiceLink`), the one Bot API method the API calls.

Called over aiohttp directly rather than through aiogram. Per top-up, aiogram built and
validated a method model, dumped it to a form, and validated the answer into another
model: together about as much CPU as the call itself. And loading aiogram took the
process from about 60 MB to about 185 MB. Here the form for each package and language
is built once; a top-up only appends its payload.

Every way Telegram can fail to give a link becomes an InvoiceError with a reason
(the label of `stars_invoice_failures_total`). No error or log line carries the URL:
it holds the bot token.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import aiohttp

from api.texts import invoice_text
from models.infra.bot_api import method_url
from models.infra.i18n import language
from models.infra.settings import Settings


class InvoiceFailure(StrEnum):
    """Why Telegram gave no link; also the label of `stars_invoice_failures_total`."""

    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    FLOOD_WAIT = "flood_wait"  # a 429: wait `retry_after`


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class InvoiceError(Exception):
    """No link. `detail` is Telegram's description or the kind of network failure;
    `retry_after` is Telegram's wait on a 429."""

    def __init__(self, reason: InvoiceFailure, detail: str, retry_after: int = 0) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after


def telegram_session(settings: Settings) -> aiohttp.ClientSession:
    """At most TELEGRAM_CONNECTIONS calls on the wire at once; more wait for one."""
    connector = aiohttp.TCPConnector(limit=settings.telegram_connections, ttl_dns_cache=3600)
    return aiohttp.ClientSession(connector=connector)


class InvoiceClient:
    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self._url = method_url(settings, "createInvoiceLink")
        self._photo_url = settings.invoice_photo_url
        self._session = session
        # (amount, language) -> the form up to its payload. Packages and languages
        # are a handful each, so this stays small whatever buyers send.
        self._forms: dict[tuple[int, str], bytes] = {}
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _form(self, amount: int, lang: str) -> bytes:
        form = self._forms.get((amount, lang))
        if form is None:
            price = {"label": invoice_text(lang, "label", amount), "amount": amount}
            fields = {
                "title": invoice_text(lang, "title", amount),
                "description": invoice_text(lang, "description", amount),
                "currency": "XTR",
                "prices": json.dumps([price], ensure_ascii=False),
            }
            if self._photo_url:
                fields["photo_url"] = self._photo_url
            form = self._forms[(amount, lang)] = (urlencode(fields) + "&payload=").encode()
        return form

    async def create(
        self, amount: int, language_code: str | None, payload: str, *, timeout: float
    ) -> str:
        """A link to an invoice for `amount` Stars in the buyer's language, carrying
        `payload` (URL-safe: an order id)."""
        body = self._form(amount, language(language_code)) + payload.encode()
        limit = self._timeouts.get(timeout) or self._timeouts.setdefault(
            timeout, aiohttp.ClientTimeout(total=timeout)
        )
        try:
            async with self._session.post(
                self._url, data=body, headers=FORM, timeout=limit
            ) as response:
                status, raw = response.status, await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            # The type only: some aiohttp errors quote the URL, and the URL holds the token.
            raise InvoiceError(InvoiceFailure.UNREACHABLE, type(error).__name__) from None
        try:
            answer: Any = json.loads(raw)
        except ValueError:
            raise InvoiceError(
                InvoiceFailure.REFUSED, f"HTTP {status} without a Bot API answer"
            ) from None
        if not isinstance(answer, dict):
            raise InvoiceError(InvoiceFailure.REFUSED, f"HTTP {status} without a Bot API answer")
        result = answer.get("result")
        if answer.get("ok") is True and isinstance(result, str):
            return result
        description = str(answer.get("description") or f"HTTP {status}")
        parameters = answer.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        if answer.get("error_code") == 429 and isinstance(retry_after, int):
            raise InvoiceError(InvoiceFailure.FLOOD_WAIT, description, retry_after)
        raise InvoiceError(InvoiceFailure.REFUSED, description)
