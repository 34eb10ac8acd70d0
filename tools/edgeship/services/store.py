"""Where ``edgeship deploy`` keeps its services: one folder per service under ``<home>/services``.

A service folder holds ``service.json`` (the record below), ``service.log`` (the process's
output) and the model files it serves. The record is written atomically; a service's state is
re-derived from its process and health endpoint when read, never trusted from disk alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import time
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path

from edgeship._proc import pid_alive
from edgeship.errors import DeployError
from edgeship.jsontypes import JSONObject

SERVICE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")  # Azure ML's service-name rule


class ServiceState(StrEnum):
    """Azure ML's service states (``az ml service list``), as ``service.json`` and ``--json`` spell them."""

    TRANSITIONING = "Transitioning"
    HEALTHY = "Healthy"
    UNHEALTHY = "Unhealthy"
    FAILED = "Failed"
    STOPPED = "Stopped"
    DELETED = "Deleted"


@dataclass(frozen=True)
class ServiceRecord:
    name: str
    compute_type: str
    model: str
    host: str
    port: int
    pid: int
    entry_script: str | None
    created_at: str
    state: ServiceState = ServiceState.TRANSITIONING

    @property
    def scoring_uri(self) -> str:
        return f"http://{self.host}:{self.port}/score"

    def to_json(self) -> JSONObject:
        return {**asdict(self), "scoring_uri": self.scoring_uri}


def validate_service_name(name: str) -> str:
    if not SERVICE_NAME.match(name):
        raise DeployError(
            f"invalid service name {name!r}: use 1-32 lower-case letters, digits and '-' "
            "(starting and ending with a letter or digit)"
        )
    return name


class ServiceStore:
    def __init__(self, home: Path) -> None:
        self.root = home / "services"

    def folder(self, name: str) -> Path:
        return self.root / validate_service_name(name)

    def save(self, record: ServiceRecord) -> None:
        folder = self.folder(record.name)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "service.json.tmp"
        tmp.write_text(json.dumps(asdict(record), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, folder / "service.json")

    def load(self, name: str) -> ServiceRecord:
        path = self.folder(name) / "service.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DeployError(f"no service named {name!r} (see 'edgeship service list')") from None
        except (OSError, ValueError) as exc:
            raise DeployError(f"service {name!r} has an unreadable record: {exc}") from exc
        try:
            record = ServiceRecord(**{**data, "state": ServiceState(data.get("state", ServiceState.TRANSITIONING))})
        except (TypeError, ValueError) as exc:
            raise DeployError(f"service {name!r} has an unreadable record: {exc}") from None
        if record.state != ServiceState.STOPPED and not pid_alive(record.pid):
            record = replace(record, state=ServiceState.FAILED)
        return record

    def list(self) -> list[ServiceRecord]:
        if not self.root.is_dir():
            return []
        return [self.load(p.name) for p in sorted(self.root.iterdir()) if (p / "service.json").is_file()]

    def log_path(self, name: str) -> Path:
        return self.folder(name) / "service.log"

    def delete(self, name: str, grace_seconds: float = 10.0) -> ServiceRecord:
        record = self.load(name)
        stop_process_group(record.pid, grace_seconds)
        shutil.rmtree(self.folder(name))
        return replace(record, state=ServiceState.DELETED)


def stop_process_group(pid: int, grace_seconds: float) -> None:
    """SIGTERM the service's process group, then SIGKILL what is left after the grace period."""
    if not pid_alive(pid):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        # Reap it if it is our child (deploy and delete in one process, as in tests).
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)  # polling a foreign process's exit: there is no event to wait on
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
