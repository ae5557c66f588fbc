"""Each bad setting stops start-up with exit code 2 and one line naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from models.infra.settings import Settings, load_settings
from tests.helpers import TOKEN, make_settings
from tests.processes import ROOT, run

BAD = [
    ({}, "BOT_TOKEN is required but not set"),
    ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN is not shaped like a bot token"),
    ({"BOT_TOKEN": "123456:short"}, "BOT_TOKEN is not shaped like a bot token"),
    # 29 characters after the colon: Telegram's secrets have 35.
    ({"BOT_TOKEN": TOKEN[:-5]}, "BOT_TOKEN is not shaped like a bot token"),
    # .env.example's value, copied without editing it.
    (
        {"BOT_TOKEN": "123456789:replace-with-your-token-from-botfather"},
        "BOT_TOKEN is still the placeholder from .env.example",
    ),
    (
        {"BOT_TOKEN": TOKEN, "DATABASE_URL": "garbage"},
        "DATABASE_URL is not a database URL; use sqlite://",
    ),
    (
        {"BOT_TOKEN": TOKEN, "DATABASE_URL": "postgres//stars:hunter2@db/stars"},
        "DATABASE_URL is not a database URL; use sqlite://",
    ),
    ({"BOT_TOKEN": TOKEN, "API_PORT": "eighty"}, "API_PORT is invalid"),
    ({"BOT_TOKEN": TOKEN, "API_PORT": "70000"}, "API_PORT is invalid"),
    (
        {"BOT_TOKEN": TOKEN, "DATABASE_URL": "mysql://root@localhost/db"},
        "DATABASE_URL has unsupported kind 'mysql'",
    ),
    (
        {
            "BOT_TOKEN": TOKEN,
            "DATABASE_URL": "sqlite://stars.sqlite3",
            "DATABASE_DIRECT_URL": "postgres://stars:hunter2@db/stars",
        },
        "DATABASE_DIRECT_URL is set but DATABASE_URL is SQLite",
    ),
    ({"BOT_TOKEN": TOKEN, "ENVIRONMENT": "staging"}, "ENVIRONMENT is invalid"),
    ({"BOT_TOKEN": TOKEN, "ADMIN_IDS": "12,abc"}, "ADMIN_IDS is invalid"),
    ({"BOT_TOKEN": TOKEN, "STAR_PACKAGES": "100,-5"}, "STAR_PACKAGES amounts must be whole Stars"),
    ({"BOT_TOKEN": TOKEN, "INVOICE_TTL": "soon"}, "INVOICE_TTL is invalid"),
    ({"BOT_TOKEN": TOKEN, "LEADER_LEASE": "0.5"}, "LEADER_LEASE is invalid"),
    ({"BOT_TOKEN": TOKEN, "LOG_FORMAT": "xml"}, "LOG_FORMAT is invalid"),
    ({"BOT_TOKEN": TOKEN, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be DEBUG"),
    # aiogram would put the token into these URLs, and aiohttp quotes a bad URL whole.
    *[
        ({"BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": url}, f"TELEGRAM_API_URL {problem}")
        for url, problem in [
            ("127.0.0.1:8081", "must start with http:// or https://"),
            ("htp//127.0.0.1:8081", "must start with http:// or https://"),
            (f"ftp://127.0.0.1/bot{TOKEN}", "must start with http:// or https://"),
            ("http:///bot-api", "has no valid host name"),
            (f"http://127.0.0.1:80801/bot{TOKEN}", "is not a valid URL"),
            ("http://127.0.0.1:port", "is not a valid URL"),
            ("http://127.0.0.1:0", "is not a valid URL"),
            ("http://[::1", "is not a valid URL"),
            (f"http://bot api.local/{TOKEN}", "must not contain spaces"),
            ("http://127.0.0.1:8081/?token=x", "must be a base URL without ?query"),
        ]
    ],
]


@pytest.mark.parametrize("script", ["run_bot.py", "run_api.py"])
@pytest.mark.parametrize(
    ("env", "message"), BAD, ids=[m.split()[0] + str(i) for i, (_, m) in enumerate(BAD)]
)
async def test_a_bad_setting_stops_start_up_with_one_line(
    tmp_path: Path, script: str, env: dict[str, Any], message: str
) -> None:
    code, out, err = await run(script, cwd=tmp_path, **env)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"configuration error: {message}")
    assert "Traceback" not in err
    assert out == ""
    if "BOT_TOKEN" in env:
        assert env["BOT_TOKEN"] not in err
        assert env["BOT_TOKEN"].split(":")[-1] not in err
    assert "hunter2" not in err


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8081", "https://bot-api.internal/prefix/", "http://[::1]:8081"]
)
def test_a_good_telegram_api_url_is_kept(url: str) -> None:
    assert make_settings(telegram_api_url=url).telegram_api_url == url


def test_defaults_and_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ADMIN_IDS", "1, 2,3")
    monkeypatch.setenv("STAR_PACKAGES", "500,50,100")
    settings = load_settings()
    assert settings.admin_ids == [1, 2, 3]
    assert settings.star_packages == [50, 100, 500]
    assert settings.database_url == "sqlite://data/stars.sqlite3"
    assert (tmp_path / "data").is_dir()
    assert (settings.api_host, settings.api_port, settings.invoice_ttl) == (
        "127.0.0.1",
        8080,
        86400,
    )


def test_the_token_is_never_shown() -> None:
    settings = make_settings()
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings.model_dump())


def test_the_example_env_file_loads_with_its_documented_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = (ROOT / ".env.example").read_text()
    (tmp_path / ".env").write_text(
        example.replace(
            "replace-with-your-token-from-botfather", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
        )
    )
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = load_settings()
    assert settings.bot_metrics_port is None
    assert settings.leader_lease == 10
    assert settings.invoice_photo_url is None
    assert settings.telegram_api_url is None
    assert settings.admin_ids == []
    assert settings.star_packages == [50, 100, 250, 500, 1000, 2500]
    documented = {
        line.split("=", 1)[0] for line in example.splitlines() if line and not line.startswith("#")
    }
    assert documented == {name.upper() for name in Settings.model_fields}


# A password with a character that ends the URL's userinfo early: the rest of the URL
# no longer parses as a host and a port, and the database drivers' own errors quote
# the part they took for a port (the password).
UNENCODED_PASSWORDS = [
    "postgres://postgres:Hunter2Secret/xyz@127.0.0.1:5432/x",
    "postgres://postgres:Hunter2Secret#xyz@127.0.0.1:5432/x",
    "postgres://postgres:Hunter2Secret?xyz@127.0.0.1:5432/x",
    "postgres://postgres:5432#Hunter2Secret@127.0.0.1:5432/x",  # "5432" parses as a port
    "postgres://postgres:Hunter2@Secret@127.0.0.1:5432/x",  # asyncpg splits at the first @
]


PERCENT_ENCODE = (
    "has no valid host and port: percent-encode any / ? # @ in the password "
    "(/ is %2F, ? is %3F, # is %23, @ is %40)"
)


@pytest.mark.parametrize(
    "command", [["run_api.py"], ["run_bot.py"], ["run_bot.py", "check", "--offline"]]
)
async def test_a_database_url_whose_password_breaks_it_is_one_line_that_never_shows_it(
    tmp_path: Path, command: list[str]
) -> None:
    code, out, err = await run(
        *command, cwd=tmp_path, BOT_TOKEN=TOKEN, DATABASE_URL=UNENCODED_PASSWORDS[0]
    )
    assert code == 2
    assert err.strip().splitlines() == [f"configuration error: DATABASE_URL {PERCENT_ENCODE}"]
    assert "Secret" not in err + out


@pytest.mark.parametrize("url", UNENCODED_PASSWORDS)
@pytest.mark.parametrize("variable", ["DATABASE_URL", "DATABASE_DIRECT_URL"])
def test_every_way_a_password_can_break_a_database_url_is_refused(
    capsys: pytest.CaptureFixture[str], url: str, variable: str
) -> None:
    values = {"bot_token": TOKEN, "database_url": url, "_env_file": None}
    if variable == "DATABASE_DIRECT_URL":
        values |= {"database_url": "postgres://stars:ok@127.0.0.1/x", "database_direct_url": url}
    with pytest.raises(SystemExit) as exited:
        load_settings(**values)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"configuration error: {variable} {PERCENT_ENCODE}"]
    assert "Secret" not in err


@pytest.mark.parametrize(
    "url",
    [
        "postgres://postgres:Hunter2Secret%2Fxyz@127.0.0.1:5432/x",
        "postgres://stars:pa:ss@[::1]:5432/x?pgbouncer=true",
        "postgres:///stars?host=/var/run/postgresql",
        "postgresql://db.internal/stars",
    ],
)
def test_a_database_url_with_an_encoded_password_is_kept(url: str) -> None:
    assert make_settings(database_url=url).database_url == url


def test_the_database_passwords_are_secrets_in_both_spellings() -> None:
    settings = make_settings(
        database_url="postgres://stars:pool%2Fpass@pooler:6432/stars?pgbouncer=true",
        database_direct_url="postgres://stars:direct%23pass@db:5432/stars",
    )
    assert {"pool%2Fpass", "pool/pass", "direct%23pass", "direct#pass"} <= set(settings.secrets)
    assert "stars" not in settings.secrets  # the user name is not a secret


@pytest.mark.parametrize("variable", ["TELEGRAM_API_URL", "EVENTS_URL"])
@pytest.mark.parametrize(
    "userinfo",
    ["stars:пароль", "пользователь:secret", "stars:%D0%BF%D0%B0%D1%80%D0%BE%D0%BB%D1%8C"],
)
def test_a_url_whose_credentials_http_cannot_send_is_refused(
    capsys: pytest.CaptureFixture[str], variable: str, userinfo: str
) -> None:
    """aiohttp sends a URL's user and password as Basic auth in Latin-1: any other
    character fails every request with a UnicodeEncodeError that quotes them."""
    values = {
        "bot_token": TOKEN,
        variable.lower(): f"https://{userinfo}@app.example.org/hook",
        "events_secret": "e" * 32,
        "_env_file": None,
    }
    with pytest.raises(SystemExit):
        load_settings(**values)
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"configuration error: {variable} must have a user name and password of "
        "Latin-1 characters only (HTTP Basic authentication cannot send others)"
    ]
    assert "stars" not in err
    assert "secret" not in err


def test_url_credentials_and_queries_are_secrets() -> None:
    settings = make_settings(
        telegram_api_url="https://proxy:Tg%C3%A9Pass@bot-api.internal",
        events_url="https://hooks:EvPass@app.example.org/hook?key=EventsQueryKey&v=1",
        events_secret="e" * 32,
        webapp_url="https://app.example.org/?ref=WebappRefValue",
    )
    secrets = set(settings.secrets)
    assert {"proxy:Tg%C3%A9Pass", "Tg%C3%A9Pass", "TgéPass", "EvPass"} <= secrets
    assert {"key=EventsQueryKey&v=1", "EventsQueryKey", "ref=WebappRefValue"} <= secrets
    assert "1" not in secrets  # a short query value is not a secret
