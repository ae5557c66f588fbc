"""The floor for the API: a minimal aiohttp handler that forwards each top-up to the
Bot API's createInvoiceLink over one shared session (no auth, no database), with as
many connections to Telegram as ours (TELEGRAM_CONNECTIONS, the same default).
`python -m tests.bench.floor_api`."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from models.infra.loop import new_event_loop
from models.infra.settings import Settings

session_key = web.AppKey("session", aiohttp.ClientSession)


async def top_up(request: web.Request) -> web.Response:
    body = await request.json()
    url = f"{os.environ['TELEGRAM_API_URL']}/bot{os.environ['BOT_TOKEN']}/createInvoiceLink"
    form = {
        "title": "Stars",
        "description": "Stars",
        "payload": "floor",
        "currency": "XTR",
        "prices": json.dumps([{"label": "Stars", "amount": body["amount"]}]),
    }
    async with request.app[session_key].post(url, data=form) as response:
        answer = await response.json()
    return web.json_response({"invoice_url": answer["result"]}, status=201)


async def client(app: web.Application) -> AsyncIterator[None]:
    default = Settings.model_fields["telegram_connections"].default
    limit = int(os.environ.get("TELEGRAM_CONNECTIONS", default))
    app[session_key] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit))
    yield
    await app[session_key].close()


def main() -> None:
    app = web.Application()
    app.cleanup_ctx.append(client)
    app.router.add_post("/payments/top-up", top_up)
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(os.environ["API_PORT"]),
        access_log=None,
        reuse_port=True,
        backlog=4096,  # as run_api.py: a spike's new connections are not dropped
        loop=new_event_loop(),  # the loop run_api.py runs on
        print=lambda text: print(text, flush=True),
    )


if __name__ == "__main__":
    main()
