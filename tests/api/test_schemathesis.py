"""/openapi.json is the server: schemathesis, every check on, against the real
`run_api.py` process (SQLite and PostgreSQL), as a Mini App user with valid initData
and as an app backend with a service key. Any 5xx, any answer the document does not
declare, any request the document allows that the server refuses (or the reverse)
fails the build. A test with a deliberately wrong schema entry shows it can fail."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from tests.databases import (
    NO_PG_REASON,
    PG_URL,
    create_pg_database,
    drop_pg_database,
    pg_database_url,
)
from tests.emulator import BotApiEmulator
from tests.helpers import ALICE, TOKEN, tma
from tests.processes import ROOT, child_env, free_port

SERVICE_KEY = "svc_" + "s" * 40
# Routes left out of the run, each with its reason; test_the_exemptions_still_exist
# fails once a route here is gone, so the list cannot outlive its reason.
NOT_YET_HELD: set[str] = set()
EXAMPLES = 25  # per operation: the run stays well under a minute per database


class Api:
    def __init__(self, url: str) -> None:
        self.url = url

    def headers(self, path: str) -> dict[str, str]:
        if path.startswith("/service/"):
            return {"Authorization": f"Bearer {SERVICE_KEY}"}
        return tma(ALICE)


@contextlib.contextmanager
def telegram() -> Iterator[str]:
    """The Bot API emulator, on a loop in a thread of its own: the gift routes need a
    catalog (getAvailableGifts) and a bot with Stars (getMyStarBalance), or each answers
    503. Nothing is ever bought: the generated users hold no Stars."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="emulator", daemon=True)
    thread.start()
    emulator = BotApiEmulator(tokens=[TOKEN])
    try:
        url = asyncio.run_coroutine_threadsafe(emulator.start(), loop).result(30)
        emulator.set_star_balance(TOKEN, 10**9)
        yield url
        asyncio.run_coroutine_threadsafe(emulator.stop(), loop).result(30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def serve(tmp_path: Path, db_url: str) -> Iterator[Api]:
    with telegram() as telegram_url:
        yield from _serve(tmp_path, db_url, telegram_url)


def _serve(tmp_path: Path, db_url: str, telegram_url: str) -> Iterator[Api]:
    port = free_port()
    log = (tmp_path / "api.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run_api.py")],
        cwd=tmp_path,
        env=child_env(
            BOT_TOKEN=TOKEN,
            DATABASE_URL=db_url,
            API_PORT=port,
            TELEGRAM_API_URL=telegram_url,
            ENVIRONMENT="development",
            SERVICE_API_KEYS=SERVICE_KEY,
            LOG_LEVEL="WARNING",
        ),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    log.close()
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "api.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.05)
        yield Api(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0, (tmp_path / "api.log").read_text()[-3000:]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(
    not PG_URL, reason=NO_PG_REASON))])  # fmt: skip
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    if request.param == "sqlite":
        yield from serve(tmp_path, f"sqlite://{tmp_path}/stars.sqlite3")
        return
    name = asyncio.run(create_pg_database())
    try:
        yield from serve(tmp_path, pg_database_url(name))
    finally:
        asyncio.run(drop_pg_database(name))


def run_all(api: Api, spec: dict[str, Any]) -> list[str]:
    """Every operation of `spec`, EXAMPLES cases each, all checks; the failures found."""
    schema = schemathesis.openapi.from_dict(spec)
    schema.config.update(base_url=api.url)
    failures: list[str] = []
    session = requests.Session()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is valid
        operation = result.ok()
        if operation.path in NOT_YET_HELD:
            continue
        # Valid requests (the server must take them) and invalid ones (it must refuse).
        for mode in GenerationMode:
            check = _checker(operation, mode, session, api.headers(operation.path))
            try:
                check()
            except hypothesis.errors.Unsatisfiable:  # no parameters: nothing can be invalid
                assert mode is GenerationMode.NEGATIVE
            except BaseExceptionGroup as error:  # a FailureGroup: each distinct failure
                failures.append(f"{operation.method.upper()} {operation.path} ({mode}): {error}")
    return failures


def _checker(
    operation: Any, mode: GenerationMode, session: requests.Session, headers: dict[str, str]
) -> Any:
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        case.call_and_validate(session=session, headers=headers)

    return check


def live_spec(api: Api) -> dict[str, Any]:
    spec: dict[str, Any] = requests.get(f"{api.url}/openapi.json", timeout=10).json()
    return spec


def test_the_document_is_what_the_server_does(api: Api) -> None:
    failures = run_all(api, live_spec(api))
    assert not failures, "\n\n".join(failures)[:20000]


def test_a_wrong_schema_entry_is_caught(api: Api) -> None:
    """A document saying /me answers a field it never sends fails the run."""
    spec = live_spec(api)
    me = spec["components"]["schemas"]["Me"]
    me["required"] = [*me["required"], "vip_level"]
    me["properties"]["vip_level"] = {"type": "integer"}
    spec["paths"] = {"/me": spec["paths"]["/me"]}
    failures = run_all(api, spec)
    assert len(failures) >= 1
    assert all("vip_level" in failure for failure in failures), failures


def test_the_exemptions_still_exist() -> None:
    from api.openapi import build_spec

    paths = build_spec(development=True, service=True, packages=[50])["paths"]
    assert paths.keys() >= NOT_YET_HELD
    assert {"/gifts", "/service/users/{telegram_id}/adjustments"} <= paths.keys()
