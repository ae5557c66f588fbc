"""alerts.yml is valid for Prometheus, every alert fires and stays quiet as
tests/ops/alerts_test.yml says (Prometheus's own promtool), no alert lacks a firing
case, and the rules read metrics the processes really export."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import ROOT

RULES = ROOT / "alerts.yml"
CASES = ROOT / "tests/ops/alerts_test.yml"
ALERT_LINE = re.compile(r"^(\s+- alert: )(\w+)$", re.M)
QUIET_CASE = re.compile(r"alertname: (\w+)\n\s+exp_alerts: \[\]")
FAILED_CASE = re.compile(r"alertname: (\w+), time: ")
METRIC_NAME = re.compile(r"\bstars_[a-z_]+")
# Metrics the rules may read before the code exporting them lands (none now). Once it
# lands, test_the_rules_read_metrics_the_processes_export fails until the name is taken
# off this list.
FROM_OTHER_BRANCHES: set[str] = set()
# Counters the rules take increase() of: a series first seen at 1 shows no increase, so
# each must exist at 0 before anything happens (models/infra/metrics.py creates them).
COUNTED_FROM_ZERO = [
    ("stars_gift_refusals_total", {"reason": "bot_balance_low"}),
    ("stars_reconcile_passes_total", {"outcome": "complete"}),
    ("stars_reconcile_passes_total", {"outcome": "partial"}),
    ("stars_reconcile_passes_total", {"outcome": "failed"}),
    ("stars_reconcile_failed_items_total", {"reason": "given_up"}),
    ("stars_reconcile_recovered_total", {"kind": "payment"}),
    ("stars_reconcile_recovered_total", {"kind": "refund"}),
    ("stars_precheckouts_total", {"result": "approved", "reason": "ok"}),
    ("stars_precheckouts_total", {"result": "rejected", "reason": "check_failed"}),
    ("stars_orders_opened_total", {}),
    ("stars_invoice_failures_total", {"reason": "refused"}),
    ("stars_invoice_failures_total", {"reason": "unreachable"}),
    ("stars_invoice_failures_total", {"reason": "flood_wait"}),
    ("stars_events_abandoned_total", {}),
]


@pytest.fixture
def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("promtool is missing: install Debian's prometheus package, as .ci/run does")
    pytest.skip("promtool is not installed (Debian's prometheus package; .ci/run installs it)")


def run(promtool: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def alert_names() -> list[str]:
    return [name for _, name in ALERT_LINE.findall(RULES.read_text())]


def test_the_rules_are_valid(promtool: str) -> None:
    result = run(promtool, "check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    # Every rule is an alert this file's pattern sees: none escapes the checks below.
    assert f"SUCCESS: {len(alert_names())} rules found" in result.stdout


def test_every_alert_fires_and_stays_quiet_as_the_cases_say(promtool: str) -> None:
    result = run(promtool, "test", "rules", str(CASES.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_case(promtool: str, tmp_path: Path) -> None:
    """With every alert renamed so it never fires, each alert's firing cases fail and
    promtool names them: an alert that no case expects to fire is not named."""
    (tmp_path / "tests/ops").mkdir(parents=True)
    (tmp_path / "alerts.yml").write_text(ALERT_LINE.sub(r"\1\2Silenced", RULES.read_text()))
    shutil.copy(CASES, tmp_path / "tests/ops/alerts_test.yml")
    result = run(promtool, "test", "rules", "tests/ops/alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    fired = set(FAILED_CASE.findall(result.stdout + result.stderr))
    untested = sorted(set(alert_names()) - fired)
    assert not untested, f"no case in {CASES.name} expects these to fire: {untested}"


def test_every_alert_has_a_quiet_case() -> None:
    quiet = set(QUIET_CASE.findall(CASES.read_text()))
    assert sorted(set(alert_names()) - quiet) == []


def test_every_alert_says_how_long_how_bad_and_where_to_look() -> None:
    for block in re.split(r"\n\s+- alert: ", RULES.read_text())[1:]:
        name = block.split("\n", 1)[0]
        assert re.search(r"\n\s+for: \d+m\b", block), name
        assert re.search(r"\n\s+severity: (critical|warning)\n", block), name
        assert re.search(r"\n\s+summary: \S", block), name
        assert re.search(r"\n\s+description: >-\n\s+\S", block), name


@pytest.fixture(scope="module")
def fresh_exposition() -> str:
    """What a just-started process exports, with every module of both processes loaded."""
    script = "import api.app, bot.worker; from models.infra.metrics import render; "
    script += "print(render()[0].decode())"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout


def test_the_rules_read_metrics_the_processes_export(fresh_exposition: str) -> None:
    text = fresh_exposition
    # Samples, and the families whose labelled series appear only once touched.
    exported = set(re.findall(r"^# TYPE (\S+) ", text, re.M)) | {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }
    read = set(METRIC_NAME.findall(RULES.read_text()))
    assert sorted(read - exported - FROM_OTHER_BRANCHES) == []
    assert sorted(FROM_OTHER_BRANCHES & exported) == [], "merged: take them off the list"
    assert read >= FROM_OTHER_BRANCHES


def test_counters_the_rules_take_increase_of_start_at_zero(fresh_exposition: str) -> None:
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(fresh_exposition)
        for sample in family.samples
    }
    for name, labels in COUNTED_FROM_ZERO:
        assert samples.get((name, tuple(sorted(labels.items())))) == 0, (name, labels)
