"""Serves the reference Mini App page (api/static) at /app/."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from api.errors import ApiError

STATIC = Path(__file__).resolve().parent / "static"
FILES = {"": "index.html", "index.html": "index.html", "app.js": "app.js", "app.css": "app.css"}


async def app_redirect(request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect("/app/")


async def app_file(request: web.Request) -> web.FileResponse:
    name = FILES.get(request.match_info.get("name", ""))
    if name is None:
        raise ApiError(404, "not_found", "There is nothing at this address.")
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})


def setup_mini_app(app: web.Application) -> None:
    app.router.add_get("/app", app_redirect)
    app.router.add_get("/app/", app_file)
    app.router.add_get("/app/{name}", app_file)
