"""The process runtime's interpreter: the simulator's own Python, a notice when a module's Dockerfile
builds on another one, and the interpreter a module names in its module.json."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import pytest

from edgesim.agent import ModuleLaunchError, ModuleRun, ProcessLauncher
from edgesim.agent.launcher import dockerfile_pythons

pytestmark = pytest.mark.integration

MAIN = "import sys\nopen('ran-with.txt', 'w').write(sys.executable)\n"


def make_module(
    root: Path, name: str, dockerfile: str | None = None, module_json: dict[str, object] | None = None
) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "main.py").write_text(MAIN)
    if dockerfile is not None:
        (folder / "Dockerfile.amd64").write_text(dockerfile)
    if module_json is not None:
        (folder / "module.json").write_text(json.dumps(module_json))
    return folder


def run_module(launcher: ProcessLauncher, name: str, tmp_path: Path) -> str:
    async def go() -> int:
        handle = await launcher.launch(ModuleRun(name, {}), tmp_path / f"{name}.log")
        return await asyncio.wait_for(handle.wait(), 60)

    assert asyncio.run(go()) == 0, (tmp_path / f"{name}.log").read_text()
    return (launcher.modules_dir / name / "ran-with.txt").read_text()


def test_dockerfile_python_versions(tmp_path: Path) -> None:
    folder = make_module(
        tmp_path,
        "m",
        "FROM --platform=$BUILDPLATFORM docker.io/library/python:3.7-slim AS build\n"
        "RUN pip install x\nfrom python:3.9\n",
    )
    assert dockerfile_pythons(folder) == {"3.7", "3.9"}
    assert dockerfile_pythons(make_module(tmp_path, "n", "FROM mcr.microsoft.com/dotnet/runtime:8.0\n")) == set()


def test_another_python_in_the_dockerfile_is_said_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # iotedgedev's Python module template pins python:3.7
    make_module(tmp_path, "old", 'FROM amd64/python:3.7-slim-buster\nCMD ["python3", "-u", "./main.py"]\n')
    ours = f"{sys.version_info.major}.{sys.version_info.minor}"
    make_module(tmp_path, "same", f"FROM python:{ours}-slim\n")
    launcher = ProcessLauncher(tmp_path)
    with caplog.at_level(logging.WARNING, logger="edgesim.agent.launcher"):
        assert run_module(launcher, "old", tmp_path) == sys.executable
        assert run_module(launcher, "old", tmp_path) == sys.executable  # said once, not at every restart
        assert run_module(launcher, "same", tmp_path) == sys.executable
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 1
    assert notices[0].startswith(
        f"module old: its Dockerfile builds on Python 3.7, but the process runtime runs it "
        f"with the simulator's Python {ours}"
    )


def test_a_module_names_its_interpreter(tmp_path: Path) -> None:
    # another interpreter for the module: here a link to ours, so the test needs no second Python
    named = tmp_path / "bin" / "python-for-module"
    named.parent.mkdir()
    named.symlink_to(sys.executable)
    modules = tmp_path / "modules"
    modules.mkdir()
    make_module(modules, "own", "FROM python:3.7\n", {"edgeship": {"python": str(named)}})
    make_module(modules, "missing", None, {"edgeship": {"python": "python2.2-nowhere"}})
    launcher = ProcessLauncher(modules)
    assert run_module(launcher, "own", tmp_path) == str(named)
    with pytest.raises(ModuleLaunchError, match=r"'python2\.2-nowhere', was not found"):
        run_module(launcher, "missing", tmp_path)
