"""What the browser tests share: Chromium and the Telegram SDK they need (the tests
are skipped without them), the sandbox's address, and the order the Mini App remembers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.processes import ROOT
from tests.system import System

playwright = pytest.importorskip("playwright.async_api")
CHROMIUM = Path("/usr/bin/chromium")
SDK = ROOT / "node_modules/@twa-dev/sdk/dist/telegram-web-apps.js"
ARTIFACTS = ROOT / "tests/artifacts"
NEEDS_A_BROWSER = pytest.mark.skipif(
    not CHROMIUM.exists() or not SDK.exists(),
    reason="needs Debian's chromium and `npm install @twa-dev/sdk` (.ci/run installs both)",
)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CLOUD_STORAGE = "8.0"  # a client version with CloudStorage (6.9+)
NO_CLOUD_STORAGE = "6.1"  # the oldest with openInvoice: the page falls back to localStorage


def sandbox_url(
    system: System, user: dict[str, Any], lang: str, version: str = CLOUD_STORAGE
) -> str:
    return (
        f"{system.emulator.url}/sandbox/?app={system.api.make_url('/app/')}"
        f"&user={user['id']}&name={user['first_name']}&lang={lang}&version={version}&autostart=1"
    )


def memory_key(user: dict[str, Any]) -> str:
    return f"pending_topup_{user['id']}"


async def remembered(page: Any, user: dict[str, Any]) -> dict[str, Any] | None:
    """The order the Mini App remembers for `user`: in the sandbox's CloudStorage or in the
    app's own localStorage, whichever the client version offers (never both)."""
    key = memory_key(user)
    in_cloud = await page.evaluate(
        "(slot) => localStorage.getItem(slot)", f"cloud:{user['id']}:{key}"
    )
    app = await (await page.locator("#app").element_handle()).content_frame()
    in_local = await app.evaluate("(key) => localStorage.getItem(key)", key)
    version = await page.locator("#version").input_value()
    if version == CLOUD_STORAGE:
        assert in_local is None
        found = in_cloud
    else:
        assert in_cloud is None
        found = in_local
    return json.loads(found) if found else None


SERVICE_KEY = "svc_browser_" + "k" * 32  # for tests that spend as an app's backend would
