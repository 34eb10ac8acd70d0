"""What ``/proc`` says about a process: gone (or a zombie), its resident memory."""

from __future__ import annotations

from pathlib import Path


def pid_gone(pid: int) -> bool:
    """True when the process no longer exists or is a zombie (dead, waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def rss_kb(pid: int | str = "self") -> int:
    """VmRSS of a process in kB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")
