"""What a process uses, read from Linux's /proc: CPU time and resident memory."""

from __future__ import annotations

import os


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except OSError:  # gone, or not Linux
        return []


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its children so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / ticks
    return own + sum(cpu_seconds(child) for child in _children(pid))


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children now."""
    total = 0
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    total = int(line.split()[1]) * 1024
                    break
    except OSError:
        return 0
    return total + sum(rss_bytes(child) for child in _children(pid))
