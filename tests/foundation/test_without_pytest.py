"""`edgeship demo` on a plain `pip install "edgeship[convert]"`: its import chain, and the harness it
drives, work with pytest unimportable (the dev extra is what brings pytest)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# Run first in each child: any import of pytest fails as it would where pytest is not installed.
BLOCKER = """
import importlib.abc, sys
class NoPytest(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pytest", "_pytest"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoPytest())
"""


def run_without_pytest(code: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
    )


def test_the_blocker_blocks(tmp_path: Path) -> None:
    done = run_without_pytest("import pytest", tmp_path)
    assert done.returncode == 1
    assert "ModuleNotFoundError: No module named 'pytest'" in done.stderr


def test_the_demos_imports_need_no_pytest(tmp_path: Path) -> None:
    # run_demo imports these as it goes; import them all up front, the harness included.
    done = run_without_pytest(
        "import edgeship.demo.run, edgeship.project, edgeship.packager.display, edgeship.registry, "
        "edgeship.manifest, edgeship.fixture, edgesim.testing\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest')))\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"]])
def test_the_cli_needs_no_pytest(tmp_path: Path, args: list[str]) -> None:
    done = run_without_pytest(
        f"import runpy; sys.argv = ['edgeship', *{args!r}]\nrunpy.run_module('edgeship', run_name='__main__')\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "demo" in done.stdout
    assert "Usage: edgeship" in done.stdout


def test_the_harness_runs_a_deployment_without_pytest(repo_root: Path, tmp_path: Path) -> None:
    modules = repo_root / "tests" / "simulator" / "runtime" / "modules"
    done = run_without_pytest(
        "from edgesim.testing import run_simulator\n"
        f"with run_simulator({str(modules / 'deployment.json')!r}, state_dir={str(tmp_path / 'sim')!r}, "
        f"host='127.0.16.1', modules_dir={str(modules)!r}) as sim:\n"
        "    sim.wait_connected('alpha', 'beta', timeout=60)\n"
        "    print('connected; alpha desires', sim.twin('alpha')['desired']['greeting'])\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "connected; alpha desires hello from the manifest" in done.stdout


def test_the_fixture_is_a_pytest11_plugin(repo_root: Path) -> None:
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"edgesim.pytest_plugin": "edgesim.pytest_plugin"}
    import edgesim.pytest_plugin
    import edgesim.testing

    assert callable(edgesim.pytest_plugin.edgesim_factory)
    assert edgesim.testing.pytest_plugins == ["edgesim.pytest_plugin"]  # old conftests still get it


@pytest.mark.parametrize(
    ("conftest", "options", "entry_point"),
    [
        ('pytest_plugins = ["edgesim.testing"]\n', [], False),  # a conftest written for the old module
        ("", ["-p", "edgesim.pytest_plugin"], False),  # by name, as this checkout's tests may load it
        ("", [], True),  # installed: the pytest11 entry point alone
        ('pytest_plugins = ["edgesim.testing"]\n', ["-p", "edgesim.pytest_plugin"], True),  # all three: loaded once
    ],
)
def test_a_test_session_gets_the_fixture(tmp_path: Path, conftest: str, options: list[str], entry_point: bool) -> None:
    env = dict(os.environ)
    if entry_point:
        # What pip writes for pyproject's [project.entry-points.pytest11], in a distribution of its own.
        dist = tmp_path / "site" / "edgesim_entry_probe-0.dist-info"
        dist.mkdir(parents=True)
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: edgesim-entry-probe\nVersion: 0\n")
        (dist / "entry_points.txt").write_text("[pytest11]\nedgesim.pytest_plugin = edgesim.pytest_plugin\n")
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "site"), env.get("PYTHONPATH", "")])
    project = tmp_path / "project"
    project.mkdir()
    (project / "conftest.py").write_text(conftest)
    (project / "test_uses_it.py").write_text("def test_it(edgesim_factory):\n    assert callable(edgesim_factory)\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(project),
            *options,
            str(project),
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
