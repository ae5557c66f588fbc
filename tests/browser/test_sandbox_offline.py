"""The sandbox as the README starts it (`python -m tests.sandbox`), with no internet: the
purchase goes through, telegram-web-app.js coming from the emulator (the npm package's
copy); without that script the page says so in plain words instead of a blank card."""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.browser.sandbox import CHROMIUM, FLAGS, NEEDS_A_BROWSER, playwright, sandbox_url
from tests.helpers import ALICE
from tests.processes import ROOT, STARTUP, free_port, start
from tests.system import System

pytestmark = NEEDS_A_BROWSER
expect = playwright.expect
LOCAL = ("http://127.0.0.1:", "data:", "about:")


async def offline_page(driver: Any, blocked: list[str]) -> tuple[Any, Any]:
    """A Chromium page that reaches nothing but this machine: every other request (telegram.org
    among them) fails as it would with no connection, and is listed in `blocked`."""
    browser = await driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=FLAGS
    )
    context = await browser.new_context(viewport={"width": 760, "height": 780})

    async def local_only(route: Any) -> None:
        if route.request.url.startswith(LOCAL):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", local_only)
    return browser, await context.new_page()


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
async def test_the_sandbox_command_completes_a_purchase_without_internet_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    emulator_port, api_port = free_port(), free_port()
    folder = tmp_path / "sandbox"
    default_db = ROOT / "data" / "stars.sqlite3"
    before = default_db.stat().st_mtime_ns if default_db.exists() else None
    sandbox = await start(
        "tests.sandbox",
        tmp_path / "sandbox.log",
        "--emulator-port",
        str(emulator_port),
        "--api-port",
        str(api_port),
        "--folder",
        str(folder),
    )
    await sandbox.wait_for_log("Sandbox: open")
    await sandbox.wait_for_log("Running on")  # the API; the bot answers the pre-checkout
    app = f"http://127.0.0.1:{api_port}/app/"
    url = (
        f"http://127.0.0.1:{emulator_port}/sandbox/?app={app}"
        f"&user={ALICE['id']}&name={ALICE['first_name']}&lang=en&version=8.0&autostart=1"
    )
    blocked: list[str] = []
    errors: list[str] = []
    async with playwright.async_playwright() as driver:
        browser, page = await offline_page(driver, blocked)
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            await page.goto(url)
            frame = page.frame_locator("#app")
            await frame.locator("button[data-amount='100']").click(timeout=STARTUP * 1000)
            await expect(page.locator("#sheet")).to_be_visible()
            await page.locator("#pay").click()
            await expect(frame.locator("#status")).to_have_text(
                "Done: 100 ⭐ added to your balance.", timeout=STARTUP * 1000
            )
            await expect(frame.locator("#balance")).to_have_text("100")
        finally:
            await browser.close()
    assert errors == []
    assert blocked == []  # nothing even tried to leave the machine
    assert await sandbox.stop(signal.SIGINT) == 0, sandbox.log
    assert refuses(api_port)
    assert refuses(emulator_port)
    assert "worker.stopped" in sandbox.log  # the bot stopped too, not left behind
    assert (folder / "sandbox.sqlite3").is_file()
    after = default_db.stat().st_mtime_ns if default_db.exists() else None
    assert after == before  # the default database untouched


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_without_telegrams_script_the_page_says_so_in_plain_words(
    system: System, tmp_path: Path
) -> None:
    blocked: list[str] = []
    errors: list[str] = []
    async with playwright.async_playwright() as driver:
        browser, page = await offline_page(driver, blocked)
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            await page.goto(sandbox_url(system, ALICE, "en"))
            status = page.frame_locator("#app").locator("#status")
            await expect(status).to_have_text(
                "This page cannot work: Telegram's Mini App script (telegram-web-app.js) did "
                "not load. Check the internet connection and open the page again from the bot "
                "in Telegram.",
                timeout=15000,
            )
            await expect(status).to_have_class("error")
        finally:
            await browser.close()
    assert blocked == ["https://telegram.org/js/telegram-web-app.js"]
    assert errors == []
