"""createInvoiceLink as the API calls it, without a Bot API library (api/invoices.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from api.invoices import InvoiceClient, InvoiceError, telegram_session
from tests.emulator import BotApiEmulator, running_emulator
from tests.helpers import TOKEN, make_settings
from tests.processes import ROOT


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    async with running_emulator() as running:
        yield running


async def create(url: str, amount: int = 100, lang: str | None = "en", **settings: str) -> str:
    config = make_settings(telegram_api_url=url, **settings)
    session = telegram_session(config)
    try:
        return await InvoiceClient(config, session).create(amount, lang, "order-1", timeout=2)
    finally:
        await session.close()


async def test_the_invoice_is_a_stars_invoice_in_the_buyers_language(
    emulator: BotApiEmulator,
) -> None:
    link = await create(emulator.url, 250, "ru", invoice_photo_url="https://example.org/s.png")
    invoice = emulator.invoice(link)
    assert invoice["payload"] == "order-1"
    assert (invoice["currency"], invoice["amount"]) == ("XTR", 250)
    assert invoice["title"] == "Пополнение на 250 звёзд"
    assert invoice["label"] == "250 звёзд"
    assert invoice["photo_url"] == "https://example.org/s.png"
    call = emulator.bot(TOKEN).calls_of("createInvoiceLink")[0]
    assert "provider_token" not in call


async def test_each_package_and_language_gets_its_own_text(emulator: BotApiEmulator) -> None:
    english = emulator.invoice(await create(emulator.url, 50, "de"))
    russian = emulator.invoice(await create(emulator.url, 50, "ru-RU"))
    other = emulator.invoice(await create(emulator.url, 1000, None))
    assert english["title"] == "50 Stars top-up"
    assert russian["title"] == "Пополнение на 50 звёзд"
    assert (other["title"], other["amount"]) == ("1000 Stars top-up", 1000)


async def answering(status: int, body: str, content_type: str = "text/html") -> TestServer:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type=content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app)
    await server.start_server()
    return server


async def test_a_proxys_html_error_page_is_a_refusal() -> None:
    server = await answering(502, "<html><body>502 Bad Gateway</body></html>")
    try:
        with pytest.raises(InvoiceError) as caught:
            await create(str(server.make_url("")))
    finally:
        await server.close()
    assert caught.value.reason == "refused"
    assert caught.value.detail == "HTTP 502 without a Bot API answer"


async def test_too_many_requests_carries_telegrams_wait() -> None:
    body = '{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 9",'
    body += '"parameters":{"retry_after":9}}'
    server = await answering(429, body, "application/json")
    try:
        with pytest.raises(InvoiceError) as caught:
            await create(str(server.make_url("")))
    finally:
        await server.close()
    assert (caught.value.reason, caught.value.retry_after) == ("flood_wait", 9)


async def test_an_unreachable_telegram_is_named_without_the_url() -> None:
    with pytest.raises(InvoiceError) as caught:
        await create("http://127.0.0.1:9")
    assert caught.value.reason == "unreachable"
    assert TOKEN not in str(caught.value)
    assert "127.0.0.1" not in str(caught.value)


def test_the_api_process_never_loads_aiogram() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, api.app, run_api; print(sorted(sys.modules))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT)},
    ).stdout
    assert "'api.app'" in loaded
    assert "aiogram" not in loaded
