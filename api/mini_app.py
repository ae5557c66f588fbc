"""Serves the reference Mini App page (api/static) at /app/."""

from __future__ import annotations

import html
from pathlib import Path

from aiohttp import web

from api.errors import ApiError
from api.keys import settings_key
from models.infra.settings import TELEGRAM_WEB_APP_JS

STATIC = Path(__file__).resolve().parent / "static"
FILES = {"": "index.html", "index.html": "index.html", "app.js": "app.js", "app.css": "app.css"}


async def app_redirect(request: web.Request) -> web.Response:
    raise web.HTTPPermanentRedirect("/app/")


def page(script_url: str) -> str:
    """index.html loading telegram-web-app.js from `script_url` (WEBAPP_SCRIPT_URL)."""
    source = (STATIC / "index.html").read_text(encoding="utf-8")
    quoted = html.escape(script_url, quote=True)
    return source.replace(f'src="{TELEGRAM_WEB_APP_JS}"', f'src="{quoted}"', 1)


async def app_file(request: web.Request) -> web.StreamResponse:
    name = FILES.get(request.match_info.get("name", ""))
    if name is None:
        raise ApiError(404, "not_found", "There is nothing at this address.")
    if name == "index.html":
        return web.Response(
            text=page(request.app[settings_key].webapp_script_url),
            content_type="text/html",
            headers={"Cache-Control": "no-cache"},
        )
    return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})


def setup_mini_app(app: web.Application) -> None:
    app.router.add_get("/app", app_redirect)
    app.router.add_get("/app/", app_file)
    app.router.add_get("/app/{name}", app_file)
