"""Process set-up both entry points share (models/infra/loop.py)."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from tests.processes import ROOT

PROBE = """
import resource
resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
from models.infra.loop import allow_open_files
allow_open_files()
print(*resource.getrlimit(resource.RLIMIT_NOFILE))
"""


@pytest.mark.skipif(
    resource.getrlimit(resource.RLIMIT_NOFILE)[1] <= 256, reason="the hard limit leaves no room"
)
def test_a_process_may_open_as_many_files_as_its_hard_limit_allows() -> None:
    # A systemd service starts at 1,024 open files, fewer than a process under the
    # default bounds can hold (a client and a Telegram socket per request in flight).
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    soft, hard = (int(value) for value in out)
    expected = hard if hard != resource.RLIM_INFINITY else 65_536
    assert soft == expected
