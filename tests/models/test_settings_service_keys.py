"""SERVICE_API_KEYS: comma-separated secrets of 32+ characters; a bad one stops start-up
with exit code 2 and one line that never shows a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.infra.settings import load_settings
from tests.helpers import TOKEN
from tests.processes import run

GOOD = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6-_~!"
OTHER = "z" * 32
BAD = [
    ("short-secret", "SERVICE_API_KEYS must each be at least 32 characters long"),
    (f"{GOOD},short-secret", "SERVICE_API_KEYS must each be at least 32 characters long"),
    (
        f"{GOOD[:20]} {GOOD[20:]}",
        "SERVICE_API_KEYS must each be printable ASCII without spaces or commas",
    ),
    ("ключ" * 10, "SERVICE_API_KEYS must each be printable ASCII without spaces or commas"),
]


@pytest.mark.parametrize(("value", "message"), BAD, ids=["short", "one-short", "space", "utf8"])
async def test_a_bad_service_key_stops_start_up_without_showing_it(
    tmp_path: Path, value: str, message: str
) -> None:
    code, out, err = await run("run_api.py", cwd=tmp_path, BOT_TOKEN=TOKEN, SERVICE_API_KEYS=value)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0] == f"configuration error: {message}"
    for part in value.replace(" ", ",").split(","):
        assert part[:8] not in err
    assert out == ""


async def test_the_bot_refuses_a_bad_service_key_the_same_way(tmp_path: Path) -> None:
    code, _, err = await run("run_bot.py", cwd=tmp_path, BOT_TOKEN=TOKEN, SERVICE_API_KEYS="x" * 8)
    assert code == 2
    assert err.strip() == (
        "configuration error: SERVICE_API_KEYS must each be at least 32 characters long"
    )


def test_several_keys_are_read_and_kept_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SERVICE_API_KEYS", f" {GOOD} , {OTHER} ")
    settings = load_settings()
    assert settings.service_keys == [GOOD, OTHER]
    assert GOOD not in repr(settings)
    monkeypatch.setenv("SERVICE_API_KEYS", "")
    assert load_settings().service_keys == []
