"""Is a process alive: the one answer for the simulator client and the local services."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    # A zombie (exited, not yet reaped by its parent) still answers kill(0); /proc tells the truth
    # where it exists. The state follows the last ')': a command name may hold ') ' itself.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True
