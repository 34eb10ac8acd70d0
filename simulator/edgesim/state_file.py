"""``<state>/sim.json``: where a running simulator's control API listens, and what it runs.

One owner for the file: ``edgesim.runtime`` writes it when the simulator has started (and removes
it when it stops); ``edgeship sim`` (``edgeship.simclient``) reads it to find the simulator. It is
light to import (no simulator parts), so the CLI can read it without starting anything.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import NotRequired, TypedDict

STATE_FILE = "sim.json"
DEFAULT_STATE_DIR = Path(".edgeship/sim")


class StateFileJSON(TypedDict):
    """The file's JSON: ``control_url``, ``pid`` and ``host`` are what a reader needs; the rest informs."""

    control_url: str
    pid: int
    host: str
    hub_port: NotRequired[int | None]
    hub_hostname: NotRequired[str]
    device_id: NotRequired[str]
    manifest: NotRequired[str]
    started_at: NotRequired[float]
    metrics_url: NotRequired[str]
    gateway_port: NotRequired[int | None]


@dataclass(frozen=True)
class SimulatorState:
    control_url: str
    pid: int
    host: str
    hub_port: int | None = None
    hub_hostname: str = ""
    device_id: str = ""
    manifest: str = ""
    started_at: float = 0.0
    metrics_url: str = ""
    gateway_port: int | None = None

    def to_json(self) -> StateFileJSON:
        return {
            "control_url": self.control_url,
            "pid": self.pid,
            "host": self.host,
            "hub_port": self.hub_port,
            "hub_hostname": self.hub_hostname,
            "device_id": self.device_id,
            "manifest": self.manifest,
            "started_at": self.started_at,
            "metrics_url": self.metrics_url,
            "gateway_port": self.gateway_port,
        }

    @classmethod
    def from_json(cls, data: object) -> SimulatorState:
        """``ValueError`` (or ``KeyError`` / ``TypeError``) when ``data`` is not a state file's JSON."""
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")

        def optional_int(name: str) -> int | None:
            value = data.get(name)
            return None if value is None else int(value)

        return cls(
            control_url=str(data["control_url"]),
            pid=int(data["pid"]),
            host=str(data["host"]),
            hub_port=optional_int("hub_port"),
            hub_hostname=str(data.get("hub_hostname", "")),
            device_id=str(data.get("device_id", "")),
            manifest=str(data.get("manifest", "")),
            started_at=float(data.get("started_at", 0.0)),
            metrics_url=str(data.get("metrics_url", "")),
            gateway_port=optional_int("gateway_port"),
        )


def write_state(state_dir: Path, state: SimulatorState) -> None:
    """Write ``sim.json`` atomically: readers never see half a file."""
    tmp = state_dir / f"{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state.to_json(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(state_dir / STATE_FILE)


def read_state(state_dir: Path) -> SimulatorState:
    """The state file of ``state_dir``: ``FileNotFoundError`` without one, ``OSError`` / ``ValueError`` /
    ``KeyError`` / ``TypeError`` when it cannot be read or is not a state file."""
    return SimulatorState.from_json(json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8")))


def remove_state(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (state_dir / STATE_FILE).unlink()
