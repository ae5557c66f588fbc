"""HTTP control of the emulator, for a person or a process that is not the test itself.

POST /_emulator/pay       {"invoice_url": "...", "user": {"id": 1, ...}, "deliver": true}
POST /_emulator/message   {"token": "...", "user": {"id": 1, ...}, "text": "/start"}
GET  /_emulator/messages?chat_id=1
POST /_emulator/sign      {"user": {...}}  -> initData signed with the sandbox token
GET  /_emulator/invoice/{slug}
GET  /sandbox/            a stand-in Telegram client hosting the Mini App
GET  /js/telegram-web-app.js  Telegram's Mini App script from the npm package @twa-dev/sdk
                          (`npm install`, see README), as telegram.org serves it
POST /_emulator/fault     {"method": "sendMessage", "kind": "retry_after", "retry_after": 2}
POST /_emulator/chat-fault {"chat_id": 1, "kind": "blocked" | "not_found" | "flood",
                          "retry_after": 5, "token": "..."}  messages to that chat fail
DELETE /_emulator/fault   clears both kinds
POST /_emulator/sale-label {"label": "paid_media_payment"}  how sales are labelled from now on
POST /_emulator/clock     {"advance": 90000}  let time pass at Telegram (updates a day old
                          are never delivered)
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from tests.emulator.server import BotApiEmulator

ROOT = Path(__file__).resolve().parents[2]
WEB_APP_JS = ROOT / "node_modules" / "@twa-dev" / "sdk" / "dist" / "telegram-web-apps.js"
WEB_APP_JS_MISSING = (
    "telegram-web-app.js is not installed: run `npm install --no-save --no-audit --no-fund "
    "--no-package-lock @twa-dev/sdk@8.0.2` in the checkout (README: the sandbox)"
)


def add_control_routes(app: web.Application, emulator: BotApiEmulator) -> None:
    from tests.emulator.server import ChatFault, Fault

    async def pay(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        try:
            outcome = await emulator.pay(
                body["invoice_url"],
                body["user"],
                deliver=body.get("deliver", True),
                label=body.get("label"),
            )
        except KeyError as error:
            return web.json_response({"error": str(error)}, status=404)
        return web.json_response(asdict(outcome))

    async def message(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        token = body.get("token") or next(iter(emulator.bots), "")
        return web.json_response(emulator.send_text(token, body["user"], body["text"]))

    async def messages(request: web.Request) -> web.Response:
        chat_id = int(request.query["chat_id"])
        found = [
            m
            for state in emulator.bots.values()
            for m in state.messages
            if m["chat"]["id"] == chat_id
        ]
        return web.json_response(found)

    async def fault(request: web.Request) -> web.Response:
        if request.method == "DELETE":
            emulator.clear_faults()
            return web.json_response({"ok": True})
        body: dict[str, Any] = await request.json()
        method = body.pop("method", "*")
        emulator.set_fault(method, Fault(**body))
        return web.json_response({"ok": True})

    async def chat_fault(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        token = body.pop("token", None) or emulator.sandbox_token or emulator.default_token
        chat_id = int(body.pop("chat_id"))
        emulator.set_chat_fault(token, chat_id, ChatFault(**body))
        return web.json_response({"ok": True})

    async def sign(request: web.Request) -> web.Response:
        from tests.helpers import sign_init_data

        if not emulator.sandbox_token:
            return web.json_response({"error": "start with --sandbox-token"}, status=409)
        body: dict[str, Any] = await request.json()
        return web.json_response(
            {"init_data": sign_init_data(body["user"], token=emulator.sandbox_token)}
        )

    async def invoice(request: web.Request) -> web.Response:
        found = emulator.invoices.get(request.match_info["slug"])
        if found is None:
            return web.json_response({"error": "no such invoice"}, status=404)
        keys = ("title", "description", "amount", "currency", "photo_url")
        return web.json_response({key: found[key] for key in keys})

    async def sandbox(request: web.Request) -> web.FileResponse:
        return web.FileResponse(Path(__file__).with_name("sandbox.html"))

    async def web_app_js(request: web.Request) -> web.StreamResponse:
        # The npm package's copy: telegram.org's, served by what plays Telegram here so
        # the sandbox needs no internet. Never vendored into the repository.
        if not WEB_APP_JS.is_file():
            return web.Response(
                status=404,
                text=f"{WEB_APP_JS_MISSING}\n",
                content_type="text/plain",
            )
        return web.FileResponse(WEB_APP_JS, headers={"Content-Type": "application/javascript"})

    async def sale_label(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        if body.get("label") not in ("invoice_payment", "paid_media_payment"):
            return web.json_response(
                {"error": "label is invoice_payment or paid_media_payment"}, status=400
            )
        emulator.set_sale_label(body["label"])
        return web.json_response({"ok": True})

    async def clock(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        advance = body.get("advance")
        if not isinstance(advance, int | float) or isinstance(advance, bool) or advance < 0:
            return web.json_response({"error": "advance is a number of seconds >= 0"}, status=400)
        emulator.advance_clock(advance)
        return web.json_response({"now": emulator.now()})

    app.router.add_post("/_emulator/sale-label", sale_label)
    app.router.add_post("/_emulator/clock", clock)
    app.router.add_post("/_emulator/sign", sign)
    app.router.add_get("/_emulator/invoice/{slug}", invoice)
    app.router.add_get("/sandbox/", sandbox)
    app.router.add_get("/js/telegram-web-app.js", web_app_js)
    app.router.add_post("/_emulator/pay", pay)
    app.router.add_post("/_emulator/message", message)
    app.router.add_get("/_emulator/messages", messages)
    app.router.add_route("POST", "/_emulator/fault", fault)
    app.router.add_post("/_emulator/chat-fault", chat_fault)
    app.router.add_route("DELETE", "/_emulator/fault", fault)
