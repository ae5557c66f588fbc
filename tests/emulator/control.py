"""HTTP control of the emulator, for a person or a process that is not the test itself.

POST /_emulator/pay       {"invoice_url": "...", "user": {"id": 1, ...}, "deliver": true}
POST /_emulator/message   {"token": "...", "user": {"id": 1, ...}, "text": "/start"}
GET  /_emulator/messages?chat_id=1
POST /_emulator/fault     {"method": "sendMessage", "kind": "retry_after", "retry_after": 2}
DELETE /_emulator/fault
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from tests.emulator.server import BotApiEmulator


def add_control_routes(app: web.Application, emulator: BotApiEmulator) -> None:
    from tests.emulator.server import Fault

    async def pay(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        try:
            outcome = await emulator.pay(
                body["invoice_url"], body["user"], deliver=body.get("deliver", True)
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

    app.router.add_post("/_emulator/pay", pay)
    app.router.add_post("/_emulator/message", message)
    app.router.add_get("/_emulator/messages", messages)
    app.router.add_route("POST", "/_emulator/fault", fault)
    app.router.add_route("DELETE", "/_emulator/fault", fault)
