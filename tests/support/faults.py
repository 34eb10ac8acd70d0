"""Helpers of the fault tests: deployments of the real sentiment module and test modules, tallies.

The simulator runs in-process through ``edgesim.testing`` (``run_simulator``); loopback addresses
come from ``tests.support.hub.next_address``; the test modules in ``fault_modules/`` use the real
azure-iot-device SDK, as the sentiment module does.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesim.testing import SimulatorHarness
from tests.support.hub import hub_session, next_address

REPO = Path(__file__).resolve().parents[2]
FAULT_MODULES = REPO / "tests" / "reliability" / "fault_modules"

__all__ = [
    "FAULT_MODULES",
    "REPO",
    "Tally",
    "drop_connection",
    "hub_connection",
    "in_flight",
    "module_command",
    "next_address",
    "on_loop",
    "plain_module",
    "report",
    "sentiment_module",
    "write_manifest",
]


def write_manifest(
    path: Path,
    modules: Mapping[str, Mapping[str, Any]],
    routes: Mapping[str, Any],
    ttl_secs: int = 7200,
    desired: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """A deployment manifest: ``modules`` maps a name to ``{"env", "restartPolicy", "status", ...}``."""
    entries = {}
    for name, spec in modules.items():
        entries[name] = {
            "version": "1.0",
            "type": "docker",
            "status": spec.get("status", "running"),
            "restartPolicy": spec.get("restartPolicy", "always"),
            "env": {key: {"value": str(value)} for key, value in spec.get("env", {}).items()},
            "settings": {"image": f"localhost:5000/{name}:0.1.0-amd64", "createOptions": "{}"},
        }
        if "startupOrder" in spec:
            entries[name]["startupOrder"] = spec["startupOrder"]
    content: dict[str, Any] = {
        "$edgeAgent": {
            "properties.desired": {
                "schemaVersion": "1.1",
                "runtime": {
                    "type": "docker",
                    "settings": {"minDockerVersion": "v1.25", "loggingOptions": "", "registryCredentials": {}},
                },
                "systemModules": {
                    "edgeAgent": {
                        "type": "docker",
                        "settings": {"image": "mcr.microsoft.com/azureiotedge-agent:1.5", "createOptions": "{}"},
                    },
                    "edgeHub": {
                        "type": "docker",
                        "status": "running",
                        "restartPolicy": "always",
                        "settings": {"image": "mcr.microsoft.com/azureiotedge-hub:1.5", "createOptions": "{}"},
                    },
                },
                "modules": entries,
            }
        },
        "$edgeHub": {
            "properties.desired": {
                "schemaVersion": "1.1",
                "routes": dict(routes),
                "storeAndForwardConfiguration": {"timeToLiveSecs": ttl_secs},
            }
        },
    }
    for name, properties in (desired or {}).items():
        content[name] = {"properties.desired": dict(properties)}
    path.write_text(json.dumps({"modulesContent": content}, indent=2), encoding="utf-8")
    return path


def sentiment_module(model_dir: Path, work: Path, restart_policy: str = "always") -> dict[str, Any]:
    """The real sentiment module (``modules/sentiment``, ``python -u main.py``) over the small model."""
    return {
        "restartPolicy": restart_policy,
        "env": {"MODEL_DIR": model_dir, "CAPTURE_DIR": work / "capture", "REPORT_INTERVAL": "3600"},
    }


def plain_module(env: Mapping[str, Any] | None = None, restart_policy: str = "always") -> dict[str, Any]:
    """A module of ``fault_modules/`` (its command comes from ``module_command``)."""
    return {"restartPolicy": restart_policy, "env": dict(env or {})}


def module_command(script: str) -> str:
    """The command line that runs a module of ``fault_modules/`` with this interpreter."""
    return f"{sys.executable} -u {FAULT_MODULES / script}"


def on_loop(sim: SimulatorHarness, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on the simulator's event loop (the hub is not thread-safe)."""
    return sim.run(fn, 30)


def drop_connection(sim: SimulatorHarness, module: str) -> None:
    """Close a module's connection from the hub's side, as a network fault would."""

    def close() -> None:
        connection = hub_session(sim.simulator.hub, module).connection  # fault injection
        assert connection is not None, f"{module} is not connected"
        connection.close()

    on_loop(sim, close)


def hub_connection(sim: SimulatorHarness, module: str) -> object | None:
    """The hub's current connection object of a module (a new one after a reconnect)."""

    def current() -> object | None:
        session = hub_session(sim.simulator.hub, module)
        return session.connection if session is not None else None

    connection: object | None = on_loop(sim, current)
    return connection


def in_flight(sim: SimulatorHarness, module: str) -> int:
    """Input messages the hub has sent to ``module`` and not had acknowledged yet."""

    def count() -> int:
        session = hub_session(sim.simulator.hub, module)
        return 0 if session is None else sum(1 for f in session.in_flight.values() if f.seq is not None)

    return int(on_loop(sim, count))


@dataclass
class Tally:
    """$upstream records counted by correlation id against the ids that were sent."""

    expected: set[str]
    seen: Counter[str] = field(default_factory=Counter)
    outputs: Counter[str] = field(default_factory=Counter)
    last_seq: int = 0

    def add(self, records: Iterable[Any], key: str = "correlationId") -> None:
        for record in records:
            self.last_seq = max(self.last_seq, record.seq)
            self.seen[record.system_properties.get(key) or record.system_properties.get("messageId", "")] += 1
            self.outputs[record.output] += 1

    def poll(self, sim: SimulatorHarness) -> None:
        self.add(sim.upstream(self.last_seq))

    @property
    def delivered(self) -> int:
        return len(self.expected & set(self.seen))

    @property
    def lost(self) -> int:
        return len(self.expected - set(self.seen))

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for key, count in self.seen.items() if key in self.expected)

    @property
    def unexpected(self) -> int:
        return sum(count for key, count in self.seen.items() if key not in self.expected)

    def wait_all(self, sim: SimulatorHarness, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.lost:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.lost} of {len(self.expected)} messages never reached $upstream "
                    f"(e.g. {sorted(self.expected - set(self.seen))[:5]})"
                )
            try:
                self.add(sim.wait_upstream(count=1, since=self.last_seq, timeout=min(remaining, 5)))
            except TimeoutError:
                continue
            self.poll(sim)

    def summary(self) -> dict[str, int]:
        return {
            "sent": len(self.expected),
            "delivered": self.delivered,
            "duplicates": self.duplicates,
            "lost": self.lost,
            "unexpected": self.unexpected,
        }


def report(name: str, **numbers: Any) -> None:
    """One line per test with its measured numbers (shown by pytest -s, and kept in the log)."""
    line = f"[reliability] {name}: " + ", ".join(f"{key}={value}" for key, value in numbers.items())
    print(line)
    path = REPO / ".cache" / "reliability-faults.log"  # git-ignored
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:
        log.write(f"{time.strftime('%H:%M:%S')} {line}\n")
