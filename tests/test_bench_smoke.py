"""The benchmark script runs end to end (tiny sizes). It asserts that figures come out,
never what they are: timings are not test outcomes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.databases import NO_PG_REASON, PG_URL
from tests.processes import run


@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason=NO_PG_REASON)
async def test_the_quick_benchmark_prints_its_table(tmp_path: Path) -> None:
    # Each part starts its own servers: on two busy cores that takes minutes, not seconds.
    code, out, err = await run(
        "tests.bench", "--quick", cwd=tmp_path, timeout=420, TEST_POSTGRES_URL=PG_URL
    )
    assert code == 0, err[-3000:]
    table = out[out.index("measure") :].splitlines()
    assert table[0].split()[:3] == ["measure", "ours", "floor"]
    measures = [line.split("  ")[0] for line in table[2:]]
    assert any(m.startswith("pre-checkout answer p99") for m in measures)
    assert any(m.startswith("payments credited per second") for m in measures)
    assert any(m.startswith("top-ups per second") for m in measures)
    assert any(m.startswith("top-up p99 at") for m in measures)
    assert any(m.startswith("debits per second") and "PostgreSQL" in m for m in measures)
    assert any(m.startswith("debits per second") and "SQLite" in m for m in measures)
    assert "errors: 0" in out
    # With Telegram far away: each part, with its connections and memory.
    far = [m for m in measures if "Telegram 150 ms away" in m]
    assert any(m.startswith("pre-checkout answer p99") for m in far)
    assert any(m.startswith("payments credited per second") for m in far)
    assert any(m.startswith("top-up p99 at") for m in far)
    assert any(m.startswith("API CPU per top-up at") for m in far)
    assert any(m.startswith("top-ups done per second") for m in measures)
    assert any(m.startswith("slowest answer at twice the capacity") for m in measures)
    assert sum(m.startswith("connections to Telegram at rest → peak") for m in measures) == 4
    assert sum(" RSS at rest → peak" in m for m in measures) == 4


@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason=NO_PG_REASON)
async def test_the_quick_pooler_benchmark_prints_every_route(tmp_path: Path) -> None:
    code, out, err = await run(
        "tests.bench.pooler", "--quick", cwd=tmp_path, TEST_POSTGRES_URL=PG_URL
    )
    assert code == 0, err[-3000:]
    table = [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()]
    routes = ["direct", "direct, no statement cache", "PgBouncer", "PgBouncer/direct"]
    header = table.index(["measure", *routes])
    assert [row[0] for row in table[header + 2 :]] == [
        "one read (1 statement), one client",
        "one credit (a read + a transaction of 4), one client",
        "reads per second, 32 clients",
        "credits per second, 32 clients",
    ]
