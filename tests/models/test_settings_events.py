"""EVENTS_URL and EVENTS_SECRET: a bad value stops start-up with exit code 2 and one
line that never shows the secret or the URL (which may carry credentials)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from models.infra.settings import load_settings
from tests.helpers import TOKEN
from tests.processes import run

SECRET = "whsec_" + "Zx9a" * 8  # the base64 of 24 bytes
URL = "https://app.example.org/stars-events"
BAD = [
    ({"EVENTS_URL": URL}, "EVENTS_SECRET is required when EVENTS_URL is set"),
    (
        {"EVENTS_URL": URL, "EVENTS_SECRET": "hunter2-hunter2"},
        "EVENTS_SECRET must be at least 32 characters long",
    ),
    (
        {"EVENTS_URL": URL, "EVENTS_SECRET": SECRET[:20] + " " + SECRET[20:]},
        "EVENTS_SECRET must be printable ASCII without spaces",
    ),
    (
        {"EVENTS_URL": URL, "EVENTS_SECRET": "whsec_topsecretkey" + "!" * 20},
        "EVENTS_SECRET must be whsec_ followed by base64",
    ),
    (
        {
            "EVENTS_URL": URL,
            "EVENTS_SECRET": SECRET,
            "EVENTS_SECRET_PREVIOUS": "whsec_" + "A" * 28,
        },
        "EVENTS_SECRET_PREVIOUS must stand for at least 24 bytes after whsec_",
    ),
    (
        {"EVENTS_URL": URL, "EVENTS_SECRET": SECRET, "EVENTS_TIMEOUT": "0.5"},
        "EVENTS_TIMEOUT is invalid",
    ),
    (
        {"EVENTS_URL": "app.example.org/hook?key=topsecretkey", "EVENTS_SECRET": SECRET},
        "EVENTS_URL must start with http:// or https://",
    ),
    (
        {"EVENTS_URL": "https://user:topsecretkey@/hook", "EVENTS_SECRET": SECRET},
        "EVENTS_URL has no valid host name",
    ),
    (
        {"EVENTS_URL": "https://app.example.org:99999/topsecretkey", "EVENTS_SECRET": SECRET},
        "EVENTS_URL is not a valid URL",
    ),
    (
        {"EVENTS_URL": "https://app.example.org/topsecretkey#x", "EVENTS_SECRET": SECRET},
        "EVENTS_URL must not have a #fragment",
    ),
]


@pytest.mark.parametrize("script", ["run_bot.py", "run_api.py"])
@pytest.mark.parametrize(("env", "message"), BAD, ids=[str(i) for i in range(len(BAD))])
async def test_a_bad_events_setting_stops_start_up_with_one_line(
    tmp_path: Path, script: str, env: dict[str, Any], message: str
) -> None:
    code, out, err = await run(script, cwd=tmp_path, BOT_TOKEN=TOKEN, **env)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"configuration error: {message}")
    assert SECRET[:12] not in err
    assert "topsecretkey" not in err
    assert out == ""


def test_events_are_off_unless_a_url_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("EVENTS_SECRET", SECRET)  # a secret alone turns nothing on
    assert load_settings().events_keys is None
    monkeypatch.setenv("EVENTS_URL", f"{URL}?tenant=7")
    settings = load_settings()
    assert settings.events_url == f"{URL}?tenant=7"
    assert settings.events_timeout == 15  # within Standard Webhooks' 15 to 30 s
    keys = settings.events_keys
    assert keys is not None
    assert keys.webhook == (base64.b64decode(SECRET.removeprefix("whsec_")),)
    assert keys.legacy == SECRET.encode()  # Stars-Signature: the whole text, as before
    assert SECRET not in repr(settings)
    assert SECRET in settings.secrets  # what the logs redact
    assert SECRET.removeprefix("whsec_") in settings.secrets


def test_a_previous_secret_is_signed_with_too_and_kept_out_of_the_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    previous = "a-raw-secret-from-before-whsec-forms"
    for name, value in {
        "BOT_TOKEN": TOKEN,
        "EVENTS_URL": URL,
        "EVENTS_SECRET": SECRET,
        "EVENTS_SECRET_PREVIOUS": previous,
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    keys = settings.events_keys
    assert keys is not None
    assert keys.webhook == (base64.b64decode(SECRET.removeprefix("whsec_")), previous.encode())
    assert previous in settings.secrets
    assert previous not in repr(settings)
