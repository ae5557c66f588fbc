"""The installed product: the wheel holds every package and the migrations, and its
console scripts `stars-bot` and `stars-api` migrate and serve from any directory,
without the checkout on the path.

The wheel is built from a copy of the sources (as from a fresh clone), installed into
a fresh venv outside the checkout with `--no-deps`; the dependencies come from the
checkout venv's site-packages through a path file, which adds that folder to the path
but runs none of its own path files (the checkout's editable install among them).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import aiohttp
import pytest

from tests import processes
from tests.emulator import BotApiEmulator
from tests.helpers import ALICE, TOKEN
from tests.processes import ROOT, STARTUP, Child, free_port

# A wheel built and installed, two processes started: some 12 s. .ci/run runs this file
# on its own before the tiers (and leaves it out of the slow tier).
pytestmark = pytest.mark.slow
# What a source distribution or a fresh clone holds that the build reads.
SOURCES = ["pyproject.toml", "README.md", "api", "bot", "models", "migrations"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the fresh venv it is installed in)."""
    base = tmp_path_factory.mktemp("package")
    source = base / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # Build isolation fetches setuptools from pip's cache, as on any machine.
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(base), str(source)], check=True)
    [wheel] = base.glob("stars_backbone-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)], check=True)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "checkout-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return wheel, venv


def outside_env(**values: object) -> dict[str, str]:
    """The environment of a process on a machine without the checkout: no PYTHONPATH."""
    drop = ("BOT_", "API_", "DATABASE_", "TELEGRAM_", "PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update({"LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1"})
    env.update({key: str(value) for key, value in values.items()})
    return env


async def start_script(venv: Path, name: str, cwd: Path, **env: object) -> Child:
    log = cwd / f"{name}.log"
    with open(log, "ab") as handle:  # noqa: ASYNC230 (the child owns it afterwards)
        process = await asyncio.create_subprocess_exec(
            str(venv / "bin" / name),
            cwd=str(cwd),
            env=outside_env(**env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=handle,
            stderr=handle,
        )
    processes.track(process)  # ended after the test if it failed before stopping it
    return Child(process, log)


def test_the_wheel_holds_every_package_and_both_migration_sets(
    installed: tuple[Path, Path],
) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    # Every folder of the checkout's packages that holds Python, found by walking it.
    for top in ("api", "bot", "models"):
        for module in (ROOT / top).rglob("*.py"):
            if "__pycache__" not in module.parts:
                assert str(module.relative_to(ROOT)) in names
    for dialect in ("sqlite", "postgres"):
        committed = sorted((ROOT / "migrations" / dialect / "models").glob("*.py"))
        assert committed
        for migration in committed:
            assert str(migration.relative_to(ROOT)) in names
    for static in (ROOT / "api" / "static").iterdir():
        assert f"api/static/{static.name}" in names
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "stars-bot = bot.main:main" in text
    assert "stars-api = api.main:main" in text


def test_the_installed_core_imports_from_the_venv_not_the_checkout(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, venv = installed
    modules = ["models.ledger.debits", "models.reconciliation", "models.infra.db", "bot.main"]
    found = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib, sys\n"
            "for name in sys.argv[1:]: print(importlib.import_module(name).__file__)\n"
            "from models.infra.db import MIGRATIONS_DIR; print(MIGRATIONS_DIR)",
            *modules,
        ],
        cwd=tmp_path,
        env=outside_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert len(found) == len(modules) + 1
    for path in found:
        assert Path(path).is_relative_to(venv), path


async def test_both_console_scripts_migrate_and_serve_from_another_directory(
    installed: tuple[Path, Path], tmp_path: Path, emulator: BotApiEmulator
) -> None:
    _, venv = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    # A relative path: the database lands in the working directory, not the venv's.
    common = {
        "BOT_TOKEN": TOKEN,
        "DATABASE_URL": "sqlite://data/shop.sqlite3",
        "TELEGRAM_API_URL": emulator.url,
    }
    api = await start_script(venv, "stars-api", elsewhere, API_PORT=port, **common)
    bot = await start_script(venv, "stars-bot", elsewhere, **common)
    try:
        await api.wait_for_log("Running on")
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/health") as response,
        ):
            assert response.status == 200
        emulator.send_text(TOKEN, ALICE, "/balance")
        [reply] = await emulator.wait_for_message(TOKEN, ALICE["id"], timeout=STARTUP)
        assert reply["text"] == "Your balance: 0 ⭐"
    finally:
        codes = [await api.stop(), await bot.stop()]
    assert codes == [0, 0], api.log + bot.log
    assert (elsewhere / "data" / "shop.sqlite3").is_file()
    assert "database.migrated" in api.log
    assert "database.migrated" in bot.log
