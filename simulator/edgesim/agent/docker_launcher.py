"""``--runtime docker``: run the modules' images through a Docker engine (kept deliberately small).

The container gets the same ``IOTEDGE_*`` environment, host networking (so the hub's loopback
address is reachable) and the workload socket's folder mounted at ``/var/run/iotedge``.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from edgesim.agent.launcher import ModuleLaunchError, ModuleRun
from edgesim.errors import SimulatorError

CONTAINER_SOCKET_DIR = "/var/run/iotedge"


class DockerUnavailableError(SimulatorError):
    """``--runtime docker`` without a reachable Docker engine."""


class ContainerHandle:
    def __init__(self, container: Any, log_path: Path) -> None:
        self._container = container
        self._log_path = log_path
        self._exit_code: int | None = None

    @property
    def pid(self) -> int | None:
        return None

    async def wait(self) -> int:
        if self._exit_code is None:
            result = await asyncio.to_thread(self._container.wait)
            self._exit_code = int(result.get("StatusCode", 1))
            logs: bytes = await asyncio.to_thread(self._container.logs)
            with open(self._log_path, "ab") as log_file:
                log_file.write(logs)
            with contextlib.suppress(Exception):  # already gone is fine; the exit code is what matters
                await asyncio.to_thread(self._container.remove, force=True)
        return self._exit_code

    async def stop(self, grace_secs: float) -> int:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._container.stop, timeout=int(grace_secs))
        return await self.wait()

    def kill_leftovers(self) -> None:
        """A container's processes end with it."""


class DockerLauncher:
    def __init__(self, client: Any, socket_dir: Path) -> None:
        self._client = client
        self._socket_dir = socket_dir

    @classmethod
    def connect(cls, socket_dir: Path) -> DockerLauncher:
        try:
            import docker
        except ImportError:
            raise DockerUnavailableError("--runtime docker needs the 'docker' Python package") from None
        try:
            client = docker.from_env()
            client.ping()
        except Exception as exc:  # the docker SDK raises several unrelated types for "no engine"
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DockerUnavailableError(f"no reachable Docker engine for --runtime docker ({reason})") from None
        return cls(client, socket_dir)

    async def launch(self, run: ModuleRun, log_path: Path) -> ContainerHandle:
        env = dict(run.env)
        env["IOTEDGE_WORKLOADURI"] = f"unix://{CONTAINER_SOCKET_DIR}/{Path(env['IOTEDGE_WORKLOADURI']).name}"
        try:
            container = await asyncio.to_thread(
                self._client.containers.run, run.image, detach=True, name=f"edgesim-{run.name}",
                environment=env, network_mode="host", labels={"edgesim.module": run.name},
                volumes={str(self._socket_dir): {"bind": CONTAINER_SOCKET_DIR, "mode": "rw"}})
        except Exception as exc:
            raise ModuleLaunchError(f"module {run.name}: docker could not run {run.image}: {exc}") from None
        return ContainerHandle(container, log_path)
