"""What a ``Simulator`` is given and what it reports: ``SimulatorConfig``, the shape of ``status()``,
the reported properties it patches into the ``$edgeAgent`` and ``$edgeHub`` twins.

Also the lock that keeps two simulators off one state directory (``<state>/sim.lock``), and the error
it raises. ``edgesim.runtime`` re-exports the public names; nothing here starts anything.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypedDict

from edgesim.agent import BackoffConfig, ModuleState
from edgesim.defaults import (
    DEFAULT_HOST,
    DEFAULT_MODULES_DIR,
    DEFAULT_RUNTIME,
    DEFAULT_STATE_DIR,
    DEFAULT_STOP_GRACE_SECS,
)
from edgesim.deployment import Deployment, ModuleSpec
from edgesim.errors import SimulatorError
from edgesim.hub.counters import HubStats
from edgesim.hub.limits import LimitsState
from edgesim.hub.upstream import LinkState
from edgesim.jsontypes import JSONLike

LOCK_FILE = "sim.lock"
SDK_API_VERSION = "2019-01-30"  # what edgeAgent sets; the SDK passes it through to the workload API


class DeviceStatus(TypedDict):
    connected: bool


class SimulatorStatus(TypedDict):
    """``Simulator.status()``: what ``sim status --json`` and ``GET /v1/status`` show."""

    pid: int
    host: str
    hub_port: int
    hub_hostname: str
    device_id: str
    runtime: str
    control_url: str
    manifest: str
    started_at: float
    uptime_secs: float
    modules: dict[str, dict[str, object]]  # ModuleState.to_json() plus the deployment's view of it
    hub: HubStats
    metrics_url: str
    gateway_port: int | None
    gateway_error: str | None
    devices: dict[str, DeviceStatus]
    upstream: LinkState
    store: LimitsState


class SimulatorStateError(SimulatorError):
    """The state directory is in use by another simulator, or unusable."""


@dataclass(frozen=True)
class SimulatorConfig:
    manifest: Path
    state_dir: Path = DEFAULT_STATE_DIR
    host: str = DEFAULT_HOST
    modules_dir: Path = DEFAULT_MODULES_DIR
    module_commands: Mapping[str, str] = field(default_factory=dict)  # module -> command line
    runtime: str = DEFAULT_RUNTIME
    hub_hostname: str = "edgesim.azure-devices.net"
    device_id: str = "edgesim-device"
    hub_port: int = 8883  # the SDK always dials 8883
    gateway_port: int | None = 443  # HTTPS methods and MQTT over WebSockets; None: off
    metrics_port: int = 0  # 0: an ephemeral loopback port, shown by sim status
    control_port: int = 0  # 0: an ephemeral port, published in sim.json
    backoff: BackoffConfig = field(default_factory=BackoffConfig)
    stop_grace_secs: float = DEFAULT_STOP_GRACE_SECS
    api_version: str = SDK_API_VERSION


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def lock_state_dir(state_dir: Path) -> IO[str]:
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state_dir, 0o700)  # module logs and the CA key live here
    handle = open(state_dir / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 -- held for the lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SimulatorStateError(f"another simulator is running with state directory {state_dir}") from None
    return handle


# ---- reported properties (edgeAgent's shape) -------------------------------------------------
def agent_runtime_reported(deployment: Deployment, runtime: str, desired_version: int) -> dict[str, JSONLike]:
    """``$edgeAgent`` at start: schema and desired versions, the runtime and platform, the system modules."""
    running = {"runtimeStatus": "running", "lastStartTimeUtc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return {
        "schemaVersion": deployment.agent_schema_version,
        "lastDesiredStatus": {"code": 200, "description": ""},
        "lastDesiredVersion": desired_version,
        "runtime": {
            "type": runtime,
            "platform": {"os": platform.system().lower(), "architecture": platform.machine()},
        },
        "systemModules": {"edgeAgent": dict(running), "edgeHub": dict(running)},
    }


def hub_runtime_reported(deployment: Deployment, desired_version: int) -> dict[str, JSONLike]:
    """``$edgeHub`` at start: its schema and desired versions."""
    return {
        "schemaVersion": deployment.hub_schema_version,
        "lastDesiredStatus": {"code": 200, "description": ""},
        "lastDesiredVersion": desired_version,
    }


def module_reported(spec: ModuleSpec, state: ModuleState) -> dict[str, JSONLike]:
    """``$edgeAgent``'s ``modules.<name>``: the agent's state of the module plus the deployment's view of it."""
    return {
        **state.to_reported(),
        "status": spec.status.value,
        "restartPolicy": spec.restart_policy.value,
        "version": spec.version,
        "type": "docker",
        "settings": {"image": spec.image},
    }


__all__ = [
    "LOCK_FILE",
    "SDK_API_VERSION",
    "DeviceStatus",
    "SimulatorConfig",
    "SimulatorStateError",
    "SimulatorStatus",
    "agent_runtime_reported",
    "hub_runtime_reported",
    "is_loopback",
    "lock_state_dir",
    "module_reported",
]
