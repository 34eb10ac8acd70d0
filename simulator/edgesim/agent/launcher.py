"""Starting one module: as a local process (default) in its own process group.

A module process is the leader of a new session / process group, so stopping it (SIGTERM, then
SIGKILL after a grace period) reaches every process it started, the way stopping a container
does; nothing is left behind when a module exits or the simulator stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from edgesim.defaults import DEFAULT_STOP_GRACE_SECS as DEFAULT_STOP_GRACE_SECS  # re-exported
from edgesim.deployment import ModuleStatus, RestartPolicy
from edgesim.errors import SimulatorError
from edgesim.jsontypes import JSONValue

log = logging.getLogger(__name__)
# FROM python:3.7-slim, FROM --platform=$BUILDPLATFORM docker.io/library/python:3.9 AS build, ...
_DOCKERFILE_PYTHON = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(?:\S+/)?python:(\d+\.\d+)", re.IGNORECASE | re.MULTILINE)
# Inherited variables that would make the SDK bypass the edge environment we provide.
SCRUBBED_ENV = ("EdgeHubConnectionString", "EdgeModuleCACertificateFile", "IOTHUB_DEVICE_CONNECTION_STRING")


class ModuleLaunchError(SimulatorError):
    """A module could not be started (missing folder, bad command, ...)."""


@dataclass(frozen=True)
class ModuleRun:
    """What the agent needs to run one module."""

    name: str
    env: Mapping[str, str]  # IOTEDGE_* plus the manifest's env
    status: ModuleStatus = ModuleStatus.RUNNING
    restart_policy: RestartPolicy = RestartPolicy.ALWAYS
    startup_order: int | None = None
    image: str = ""
    create_options: Mapping[str, JSONValue] = field(default_factory=dict)


class ModuleHandle(Protocol):
    @property
    def pid(self) -> int | None: ...

    async def wait(self) -> int: ...

    async def stop(self, grace_secs: float) -> int: ...

    def kill_leftovers(self) -> None: ...


class Launcher(Protocol):
    async def launch(self, run: ModuleRun, log_path: Path) -> ModuleHandle: ...


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class ProcessHandle:
    """A running module process (leader of its own process group)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    @property
    def pid(self) -> int | None:
        return self._process.pid

    async def wait(self) -> int:
        return await self._process.wait()

    async def stop(self, grace_secs: float) -> int:
        if self._process.returncode is None:
            _kill_group(self._process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self._process.wait()), grace_secs)
            except TimeoutError:
                _kill_group(self._process.pid, signal.SIGKILL)
        code = await self._process.wait()
        self.kill_leftovers()
        return code

    def kill_leftovers(self) -> None:
        """SIGKILL whatever the module left running in its group after it exited."""
        _kill_group(self._process.pid, signal.SIGKILL)


def named_interpreter(folder: Path) -> str | None:
    """The interpreter a module names for the process runtime: ``"edgeship": {"python": "..."}`` in its
    module.json (a command on PATH or a path), or None."""
    try:
        data = json.loads((folder / "module.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    section = data.get("edgeship") if isinstance(data, dict) else None
    python = section.get("python") if isinstance(section, dict) else None
    return python if isinstance(python, str) and python.strip() else None


def dockerfile_pythons(folder: Path) -> set[str]:
    """The Python versions (``3.7``) the module's Dockerfiles build on, from their ``FROM python:X.Y`` lines."""
    versions: set[str] = set()
    for dockerfile in sorted(folder.glob("Dockerfile*")):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            versions.update(_DOCKERFILE_PYTHON.findall(dockerfile.read_text(encoding="utf-8")))
    return versions


class ProcessLauncher:
    """Runs ``python -u main.py`` in ``<modules_dir>/<name>/``, or a per-module override command.

    ``python`` is the simulator's own interpreter unless the module names another (see
    ``named_interpreter``); when its Dockerfile builds on another Python version, the launcher says so
    at the first start (iotedgedev's Python template pins python:3.7, whose code may not run on ours).
    """

    def __init__(
        self, modules_dir: Path, commands: Mapping[str, str] | None = None, base_env: Mapping[str, str] | None = None
    ) -> None:
        self.modules_dir = modules_dir
        self.commands = dict(commands or {})
        self._base_env = dict(os.environ if base_env is None else base_env)
        for name in SCRUBBED_ENV:
            self._base_env.pop(name, None)
        self._noticed: set[str] = set()

    def interpreter(self, name: str, folder: Path) -> str:
        """The Python for a module without an override command, with the notice about its Dockerfile."""
        named = named_interpreter(folder)
        if named is not None:
            found = shutil.which(named, path=self._base_env.get("PATH"))
            if found is None:
                raise ModuleLaunchError(
                    f"module {name}: the interpreter its module.json names, {named!r}, was not found"
                )
            return found
        ours = f"{sys.version_info.major}.{sys.version_info.minor}"
        wanted = dockerfile_pythons(folder)
        if wanted and ours not in wanted and name not in self._noticed:
            self._noticed.add(name)
            log.warning(
                "module %s: its Dockerfile builds on Python %s, but the process runtime runs it with the "
                'simulator\'s Python %s (%s); name another interpreter with "edgeship": {"python": ...} '
                "in its module.json or --module %s=COMMAND",
                name,
                ", ".join(sorted(wanted)),
                ours,
                sys.executable,
                name,
            )
        return sys.executable

    def argv(self, name: str) -> list[str]:
        command = self.commands.get(name)
        if command is None:
            return [sys.executable, "-u", "main.py"]
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise ModuleLaunchError(f"module {name}: cannot parse command {command!r}: {exc}") from None
        if not argv:
            raise ModuleLaunchError(f"module {name}: empty command")
        return argv

    def cwd(self, name: str) -> Path:
        folder = self.modules_dir / name
        if folder.is_dir():
            return folder
        if name in self.commands:  # an override command may live anywhere
            return self.modules_dir if self.modules_dir.is_dir() else Path.cwd()
        raise ModuleLaunchError(f"module {name}: no folder {folder} (use --modules-dir or --module {name}=COMMAND)")

    async def launch(self, run: ModuleRun, log_path: Path) -> ModuleHandle:
        argv, cwd = self.argv(run.name), self.cwd(run.name)
        if run.name not in self.commands:
            argv[0] = self.interpreter(run.name, cwd)
        env = {**self._base_env, **run.env}
        with open(log_path, "ab") as log_file:  # the child keeps its own copy of the descriptor
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=cwd,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ModuleLaunchError(f"module {run.name}: cannot start {argv[0]!r}: {exc.strerror or exc}") from None
        return ProcessHandle(process)


def split_assignments(items: Sequence[str], what: str) -> dict[str, str]:
    """``["a=b c", ...]`` -> ``{"a": "b c"}``; used for ``--module NAME=COMMAND``."""
    result: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SimulatorError(f"{what} must look like NAME=VALUE, got {item!r}")
        result[name] = value
    return result
