"""The simulator's defaults, in one place: ``SimulatorConfig``, ``python -m edgesim`` and
``edgeship sim start`` all read them. Light to import (the CLI reads it for ``--help``)."""

from __future__ import annotations

from pathlib import Path

from edgesim.state_file import DEFAULT_STATE_DIR

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MODULES_DIR = Path("modules")
RUNTIMES = ("process", "docker")
DEFAULT_RUNTIME = "process"
DEFAULT_BACKOFF_UNIT_SECS = 10.0  # edgeAgent's CoolOffTimeUnitInSeconds
DEFAULT_STOP_GRACE_SECS = 10.0  # between SIGTERM and SIGKILL when a module stops

__all__ = [
    "DEFAULT_BACKOFF_UNIT_SECS",
    "DEFAULT_HOST",
    "DEFAULT_MODULES_DIR",
    "DEFAULT_RUNTIME",
    "DEFAULT_STATE_DIR",
    "DEFAULT_STOP_GRACE_SECS",
    "RUNTIMES",
]
