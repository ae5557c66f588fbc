"""The systemd units docs/operations.md gives pass `systemd-analyze verify`."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT

UNIT_BLOCK = re.compile(r"```ini\n# /etc/systemd/system/(\S+)\n(.*?)```", re.S)


def documented_units() -> dict[str, str]:
    return dict(UNIT_BLOCK.findall((ROOT / "docs" / "operations.md").read_text()))


def test_the_docs_give_both_units() -> None:
    units = documented_units()
    assert set(units) == {"stars-bot.service", "stars-api.service"}
    assert "ExecStart=/opt/stars/.venv/bin/python run_bot.py" in units["stars-bot.service"]
    assert "ExecStart=/opt/stars/.venv/bin/python run_api.py" in units["stars-api.service"]
    for text in units.values():
        assert "Restart=on-failure" in text
        assert "EnvironmentFile=/etc/stars/stars.env" in text
        assert "User=stars" in text


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (.ci/run installs the systemd package)",
)
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    # The same units with the install paths pointed at this checkout, which exists here.
    venv_python = Path(sys.executable)
    (tmp_path / "data").mkdir()
    env_file = tmp_path / "stars.env"
    env_file.write_text("BOT_TOKEN=123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw\n")
    paths = []
    for name, text in documented_units().items():
        text = (
            text.replace("/opt/stars/.venv/bin/python", str(venv_python))
            .replace("/opt/stars/data", str(tmp_path / "data"))
            .replace("/opt/stars", str(ROOT))
            .replace("/etc/stars/stars.env", str(env_file))
        )
        path = tmp_path / name
        path.write_text(text)
        paths.append(str(path))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *paths],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stars-" not in result.stderr, result.stderr
