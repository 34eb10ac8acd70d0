"""``--runtime docker``: run each module's image in a container, the way edgeAgent does.

Per module, on its first start: pull ``settings.image`` with the manifest's
``registryCredentials`` (``imagePullPolicy`` ``on-create``, the default; ``never`` uses the
engine's copy), then create one container named after the module from ``createOptions`` as the
Docker create API takes them (see ``edgesim.agent.container_config``), with the ``IOTEDGE_*``
environment and a workload socket of its own bind-mounted at ``/var/run/iotedge/workload.sock``.
A restart starts the same container again, as edgeAgent does. The container's log is followed
into the module's log file, so ``sim logs`` reads it. ``close()`` removes every container made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from edgesim.agent.container_config import OWNER_LABEL, container_config
from edgesim.agent.launcher import ModuleLaunchError, ModuleRun
from edgesim.deployment import RegistryCredential
from edgesim.errors import SimulatorError
from edgesim.tasks import spawn

log = logging.getLogger(__name__)


def _engine_errors() -> tuple[type[BaseException], ...]:
    """What a call to the engine raises: the SDK's own errors, requests' (``OSError`` subclasses:
    no engine, a dropped connection, a read timeout) and urllib3's, which requests lets through."""
    from docker.errors import DockerException
    from urllib3.exceptions import HTTPError

    return DockerException, OSError, HTTPError


WAIT_POLL_SECS = 30  # a blocking wait is re-issued so that an engine hiccup cannot hang the agent
SocketProvider = Callable[[str, Path], Awaitable[None]]


class DockerUnavailableError(SimulatorError):
    """``--runtime docker`` without a reachable Docker engine."""


def _reason(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    text = str(explanation or exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def registry_of(image: str) -> str:
    """Docker's rule: the first path component is a registry when it has a '.', a ':' or is localhost."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def split_reference(image: str) -> tuple[str, str]:
    """``repo[:tag][@digest]`` -> (repository, tag or digest); no tag means ``latest``."""
    if "@" in image:
        repository, _, digest = image.partition("@")
        return repository, digest
    repository, sep, tag = image.rpartition(":")
    if not sep or "/" in tag:
        return image, "latest"
    return repository, tag


class ContainerHandle:
    """One start of a module's container; ``wait`` returns its exit code."""

    def __init__(self, container: Any, log_path: Path, states: dict[str, dict[str, Any]], name: str) -> None:
        self._container = container
        self._log_path = log_path
        self._states = states
        self._name = name
        self._exit_code: int | None = None
        self._pid: int | None = None
        self._follower: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._pid

    def started(self, since: float) -> None:
        self._container.reload()
        self._pid = int(self._container.attrs.get("State", {}).get("Pid") or 0) or None
        self._record()
        self._follower = threading.Thread(
            target=self._follow_logs, args=(int(since),), daemon=True, name=f"edgesim-logs-{self._name}"
        )
        self._follower.start()

    def _record(self) -> None:
        state = self._container.attrs.get("State", {})
        health = state.get("Health") or {}
        self._states[self._name] = {
            "id": self._container.id[:12],
            "name": self._container.name,
            "status": state.get("Status"),
            "health": health.get("Status"),
            "exitCode": state.get("ExitCode"),
            "image": self._container.attrs.get("Config", {}).get("Image"),
        }

    def _follow_logs(self, since: int) -> None:
        # The container's own log (json-file) is the source; the module's log file is a copy.
        with contextlib.suppress(*_engine_errors()), open(self._log_path, "ab") as log_file:
            for chunk in self._container.logs(stream=True, follow=True, since=since):
                log_file.write(chunk)
                log_file.flush()

    async def refresh(self) -> None:
        with contextlib.suppress(*_engine_errors()):
            await asyncio.to_thread(self._container.reload)
            self._record()

    async def wait(self) -> int:
        from docker.errors import NotFound

        if self._exit_code is None:
            while True:
                try:
                    result = await asyncio.to_thread(self._container.wait, timeout=WAIT_POLL_SECS)
                    break
                except NotFound:  # removed behind the agent's back: it is gone, like a killed process
                    result = {"StatusCode": 137}
                    break
                except _engine_errors() as exc:  # the SDK's read timeout (requests) or a dropped connection
                    await self.refresh()
                    if self._states.get(self._name, {}).get("status") not in ("running", "restarting", "created"):
                        log.warning("container %s: wait failed (%s)", self._name, _reason(exc))
                        result = {"StatusCode": self._states.get(self._name, {}).get("exitCode") or 1}
                        break
            self._exit_code = int(result.get("StatusCode", 1))
            if self._follower is not None:
                await asyncio.to_thread(self._follower.join, 5)
            await self.refresh()
        return self._exit_code

    async def stop(self, grace_secs: float) -> int:
        with contextlib.suppress(*_engine_errors()):
            await asyncio.to_thread(self._container.stop, timeout=max(1, round(grace_secs)))
        return await self.wait()

    def kill_leftovers(self) -> None:
        """A container's processes end with it."""


class DockerLauncher:
    """Creates, starts and finally removes one container per module through a Docker engine."""

    def __init__(
        self,
        client: Any,
        socket_dir: Path,
        credentials: Sequence[RegistryCredential] = (),
        pull_policies: Mapping[str, str] | None = None,
        instance: str = "",
    ) -> None:
        self._client = client
        self._socket_dir = socket_dir
        self._credentials = tuple(credentials)
        self._pull_policies = dict(pull_policies or {})
        self._instance = instance
        self._socket_provider: SocketProvider | None = None
        self._containers: dict[str, Any] = {}
        self._handles: dict[str, ContainerHandle] = {}
        self.container_states: dict[str, dict[str, Any]] = {}
        self._poller: asyncio.Task[None] | None = None

    @classmethod
    def connect(
        cls,
        socket_dir: Path,
        credentials: Sequence[RegistryCredential] = (),
        pull_policies: Mapping[str, str] | None = None,
        instance: str = "",
    ) -> DockerLauncher:
        try:
            import docker
        except ImportError:
            raise DockerUnavailableError("--runtime docker needs the 'docker' Python package") from None
        try:
            client = docker.from_env(timeout=120)
            client.ping()
        except _engine_errors() as exc:  # the docker SDK raises several unrelated types for "no engine"
            raise DockerUnavailableError(f"no reachable Docker engine for --runtime docker ({_reason(exc)})") from None
        return cls(client, socket_dir, credentials, pull_policies, instance)

    def attach_workload(self, provider: SocketProvider) -> None:
        """How a module gets its own workload socket (the simulator's workload API serves it)."""
        self._socket_provider = provider

    # ---- pulling ----------------------------------------------------------------------------
    def _auth_for(self, image: str) -> dict[str, str] | None:
        registry = registry_of(image)
        for credential in self._credentials:
            address = credential.address.removeprefix("https://").removeprefix("http://").rstrip("/")
            if address == registry:
                return {"username": credential.username, "password": credential.password, "serveraddress": address}
        return None

    def _pull(self, image: str) -> None:
        repository, tag = split_reference(image)
        auth = self._auth_for(image)
        stream = self._client.api.pull(repository, tag=tag, auth_config=auth, stream=True, decode=True)
        for chunk in stream:
            if "error" in chunk:
                raise ModuleLaunchError(str(chunk["error"]).strip())

    async def _ensure_image(self, run: ModuleRun) -> None:
        from docker.errors import ImageNotFound

        policy = self._pull_policies.get(run.name, "on-create")
        if policy == "never":
            try:
                await asyncio.to_thread(self._client.images.get, run.image)
            except ImageNotFound:
                raise ModuleLaunchError(
                    f"module {run.name}: image {run.image} is not on this engine and imagePullPolicy is never"
                ) from None
            return
        try:
            await asyncio.to_thread(self._pull, run.image)
        except ModuleLaunchError as exc:
            raise ModuleLaunchError(f"module {run.name}: failed to pull image {run.image}: {exc}") from None
        except _engine_errors() as exc:  # APIError (unauthorized, manifest unknown) or a connection error
            raise ModuleLaunchError(f"module {run.name}: failed to pull image {run.image}: {_reason(exc)}") from None

    # ---- creating ---------------------------------------------------------------------------
    def _module_socket(self, name: str) -> Path:
        return self._socket_dir / "mnt" / f"{name}.sock"

    async def _create(self, run: ModuleRun) -> Any:
        socket = self._module_socket(run.name)
        if self._socket_provider is not None:
            await self._socket_provider(run.name, socket)
        config = container_config(run, socket, self._instance)
        await asyncio.to_thread(self._remove_stale, run.name)
        try:
            created = await asyncio.to_thread(self._client.api.create_container_from_config, config, run.name)
        except _engine_errors() as exc:
            raise ModuleLaunchError(f"module {run.name}: could not create its container: {_reason(exc)}") from None
        return await asyncio.to_thread(self._client.containers.get, created["Id"])

    def _remove_stale(self, name: str) -> None:
        """A container of this name left by a simulator that was killed is ours to replace; another is not."""
        from docker.errors import NotFound

        try:
            existing = self._client.containers.get(name)
        except NotFound:
            return
        if existing.labels.get(OWNER_LABEL) != "edgesim":
            raise ModuleLaunchError(f"module {name}: a container named {name} exists and was not made by edgesim")
        existing.remove(force=True)

    async def launch(self, run: ModuleRun, log_path: Path) -> ContainerHandle:
        from docker.errors import NotFound

        container = self._containers.get(run.name)
        if container is not None:
            try:
                await asyncio.to_thread(container.reload)
            except NotFound:  # someone removed it: create it again, as edgeAgent would
                container = None
        if container is None:
            await self._ensure_image(run)
            container = await self._create(run)
            self._containers[run.name] = container
        since = time.time()
        try:
            await asyncio.to_thread(container.start)
        except _engine_errors() as exc:
            raise ModuleLaunchError(
                f"module {run.name}: docker could not start its container: {_reason(exc)}"
            ) from None
        handle = ContainerHandle(container, log_path, self.container_states, run.name)
        await asyncio.to_thread(handle.started, since)
        self._handles[run.name] = handle
        if self._poller is None:
            self._poller = spawn(self._poll(), "edgesim-docker-poll")
        return handle

    async def _poll(self) -> None:
        """Keep each container's state (health included) fresh for ``sim status``."""
        while True:
            await asyncio.sleep(2)  # a refresh period, not a synchronisation
            for handle in list(self._handles.values()):
                await handle.refresh()

    # ---- redeploying (sim deploy) -----------------------------------------------------------
    def reconfigure(self, credentials: Sequence[RegistryCredential], pull_policies: Mapping[str, str]) -> None:
        """A new deployment's registry credentials and pull policies, for the containers made from now on."""
        self._credentials = tuple(credentials)
        self._pull_policies = dict(pull_policies)

    async def discard(self, name: str) -> None:
        """Remove the (stopped) container of a module that left the deployment or changed: the next
        launch creates it again from the new spec, as edgeAgent recreates a changed module's container."""
        container = self._containers.pop(name, None)
        self._handles.pop(name, None)
        self.container_states.pop(name, None)
        if container is None:
            return
        try:
            await asyncio.to_thread(container.remove, force=True)
        except _engine_errors() as exc:  # NotFound (removed behind our back) or an engine error: never fatal here
            log.warning("could not remove the container of module %s: %s", name, _reason(exc))

    async def close(self) -> None:
        """Remove every container this launcher made (the agent has stopped them by now)."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        containers, self._containers = self._containers, {}
        for name, container in containers.items():
            try:
                await asyncio.to_thread(container.remove, force=True)
            except _engine_errors() as exc:
                log.warning("could not remove the container of module %s: %s", name, _reason(exc))
