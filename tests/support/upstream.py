"""The upstream-outage deployment: a ``sender`` module whose telemetry goes to $upstream, in a simulator."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path

from edgesim.agent import BackoffConfig
from edgesim.testing import SimulatorHarness, run_simulator

MODULES = Path(__file__).resolve().parents[1] / "simulator" / "outage" / "modules"


def manifest(path: Path, ttl_secs: int) -> Path:
    agent = {
        "schemaVersion": "1.1",
        "runtime": {"type": "docker", "settings": {"minDockerVersion": "v1.25"}},
        "systemModules": {
            "edgeAgent": {"type": "docker", "settings": {"image": "mcr.microsoft.com/azureiotedge-agent:1.5"}},
            "edgeHub": {
                "type": "docker",
                "status": "running",
                "restartPolicy": "always",
                "settings": {"image": "mcr.microsoft.com/azureiotedge-hub:1.5"},
            },
        },
        "modules": {
            "sender": {
                "version": "1.0",
                "type": "docker",
                "status": "running",
                "restartPolicy": "always",
                "settings": {"image": "localhost:5000/sender:0.1.0-amd64"},
            }
        },
    }
    hub = {
        "schemaVersion": "1.1",
        "routes": {"toCloud": "FROM /messages/modules/sender/outputs/telemetry INTO $upstream"},
        "storeAndForwardConfiguration": {"timeToLiveSecs": ttl_secs},
    }
    path.write_text(
        json.dumps(
            {"modulesContent": {"$edgeAgent": {"properties.desired": agent}, "$edgeHub": {"properties.desired": hub}}}
        )
    )
    return path


def start(deployment: Path, state: Path, host: str) -> AbstractContextManager[SimulatorHarness]:
    return run_simulator(
        deployment,
        state_dir=state,
        host=host,
        modules_dir=MODULES,
        gateway_port=None,
        backoff=BackoffConfig(cool_off_unit_secs=0.1),
        stop_grace_secs=5,
    )


def burst(sim: SimulatorHarness, start_at: int, count: int, interval: float) -> None:
    sim.wait_connected("sender", timeout=60)
    status, payload = sim.invoke("sender", "burst", {"start": start_at, "count": count, "interval": interval})
    assert (status, payload) == (200, {"started": True})
