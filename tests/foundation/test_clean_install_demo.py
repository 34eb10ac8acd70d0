"""`edgeship demo` from a clean, non-editable `pip install ".[convert]"` with no dev extras (issue #16).

Why this test exists: the suite itself runs in the dev venv (`make install`: editable, with
`.[convert,dev]`), so it cannot notice when the demo leans on something only that venv has: pytest
or another dev tool imported on the way, a file the editable install finds in the checkout but the
wheel does not ship (the manifest schema, say), a module found through the source tree rather than
the installed package. `test_without_pytest.py` approximates this by hiding pytest from a child of
the dev venv; this test does the real thing. It builds a fresh venv (no system site packages),
installs the checkout as a wheel the way a user would, proves pytest is absent, and runs that venv's
`edgeship demo` from the repository root, checking the same facts as `tests/demo/test_demo.py`.

The trained reference model is not trained twice: the demo runs with the `--home` that
`test_demo.py` uses (`<fixture_cache>/demo-home`), where it caches the model keyed by the fixture
code, so whichever of the two tests runs first trains it (about 110 s) and the other reuses it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# Pip's words when the network to its index fails part way (the test skips), as opposed to a real
# install failure such as an unsatisfiable pin, a build error or a broken wheel (the test fails).
# An index that answers nothing at all reads like a missing pin ("from versions: none"), so that case
# is told apart up front by probe_index.
UNREACHABLE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Connection refused|Temporary failure in name "
    r"resolution|Name or service not known|Max retries exceeded|Retrying \(Retry\(|ConnectTimeoutError"
    r"|ReadTimeoutError|Could not fetch URL|ProxyError|SSLError"
)
# The build backend: pinned in constraints.txt, and the first thing the install fetches.
PROBE = "hatchling"


def clean_env(venv: Path) -> dict[str, str]:
    """The environment of a shell where only `venv` is active: nothing of the dev venv leaks in."""
    dev_bin = str(Path(sys.prefix) / "bin")
    path = [str(venv / "bin"), *(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != dev_bin)]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONUSERBASE")
        and not k.startswith("PYTEST_")
    }
    return {**env, "PATH": os.pathsep.join(path), "VIRTUAL_ENV": str(venv), "PYTHONNOUSERSITE": "1", "COLUMNS": "120"}


def run(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def create_venv(venv: Path) -> None:
    """A fresh venv of the suite's own Python version (the base interpreter, not the dev venv), or a skip."""
    done = subprocess.run(
        [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0 or not (venv / "bin" / "python").is_file():
        pytest.skip(f"cannot create a venv with {sys.executable} -m venv: {(done.stderr or done.stdout)[-800:]}")


def probe_index(venv: Path, repo_root: Path, dest: Path) -> None:
    """Skips when pip cannot fetch even the pinned build backend from its index or cache."""
    done = run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-c",
            "constraints.txt",
            "-d",
            str(dest),
            PROBE,
        ],
        clean_env(venv),
        repo_root,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.skip(
            f"pip cannot reach its index or cache (pip download {PROBE} failed):\n{(done.stdout + done.stderr)[-1500:]}"
        )


def install_checkout(venv: Path, repo_root: Path) -> None:
    """`pip install --no-compile -c constraints.txt ".[convert]"`, non-editable; skips only when pip
    lost its index part way, fails on any other install error."""
    done = run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-compile",
            "--disable-pip-version-check",
            "-c",
            "constraints.txt",
            ".[convert]",
        ],
        clean_env(venv),
        repo_root,
        timeout=900,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0 and UNREACHABLE.search(output):
        pytest.skip(f"pip cannot reach its index or cache: {UNREACHABLE.search(output)}\n{output[-1500:]}")
    assert done.returncode == 0, f"pip install of the checkout failed:\n{output[-4000:]}"


def python_in(venv: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([str(venv / "bin" / "python"), "-c", code], clean_env(venv), cwd, timeout=300)


def processes_of(venv: Path) -> list[str]:
    """Command lines of live processes whose interpreter is this venv's (the demo's hub, agent and modules)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].decode(errors="replace").startswith(str(venv)):
            found.append(f"{proc.name}: {b' '.join(argv).decode(errors='replace')}")
    return found


def summary_row(output: str, measure: str) -> str:
    """The value of one row of the demo's printed summary table (rich draws it with box characters)."""
    match = re.search(rf"{re.escape(measure)}\W+([^│|\n]+?)\s*[│|]", output)
    assert match is not None, f"no {measure!r} row in the demo's summary:\n{output[-3000:]}"
    return match.group(1)


@pytest.fixture
def clean_venv(tmp_path: Path) -> Iterator[Path]:
    """A fresh venv under pytest's tmp dir, removed afterwards (TensorFlow makes it about 2 GB)."""
    venv = tmp_path / "clean-venv"
    create_venv(venv)
    yield venv
    shutil.rmtree(venv, ignore_errors=True)


@pytest.mark.timeout(1500)
def test_demo_passes_from_a_clean_non_editable_install(
    repo_root: Path, fixture_cache: Path, tmp_path: Path, clean_venv: Path
) -> None:
    probe_index(clean_venv, repo_root, tmp_path / "probe")
    install_checkout(clean_venv, repo_root)

    # No dev extra leaked: pytest is not importable, and the packages come from the wheel, not the checkout.
    no_pytest = python_in(clean_venv, "import pytest", tmp_path)
    assert no_pytest.returncode != 0, "pytest is importable in a venv with only .[convert] installed"
    assert "No module named 'pytest'" in no_pytest.stderr
    where = python_in(
        clean_venv,
        "import edgeship, edgesim, edgeship_sentiment as s\n"
        "print(edgeship.__file__, edgesim.__file__, s.__file__, sep='\\n')",
        tmp_path,
    )
    assert where.returncode == 0, where.stderr[-3000:]
    site = Path(
        python_in(clean_venv, "import sysconfig; print(sysconfig.get_paths()['purelib'])", tmp_path).stdout.strip()
    )
    for module_file in where.stdout.split():
        assert Path(module_file).is_relative_to(site), f"{module_file} is not from the installed wheel in {site}"

    home = fixture_cache / "demo-home"  # shared with tests/demo/test_demo.py: the trained model is cached there
    demo = run(
        [
            str(clean_venv / "bin" / "edgeship"),
            "demo",
            "--home",
            str(home),
            "--host",
            "127.0.0.78",
            "--rate",
            "200",
            "--json",
        ],
        clean_env(clean_venv),
        repo_root,
        timeout=900,
    )
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, f"edgeship demo exited {demo.returncode}:\n{output[-5000:]}"

    # The printed summary, as a user reads it ...
    assert re.fullmatch(r"(\d+) of \1", summary_row(demo.stdout, "tweets scored through the simulator")), demo.stdout[
        -3000:
    ]
    assert summary_row(demo.stdout, "error replies") == "0"
    # ... and the same run's summary as JSON, for the rest of the facts test_demo.py checks.
    summary = json.loads(demo.stdout.strip().splitlines()[-1])
    assert summary["heldout"] > 100
    assert (
        summary_row(demo.stdout, "tweets scored through the simulator") == f"{summary['heldout']} of "
        f"{summary['heldout']}"
    )
    assert summary["messages"] == summary["heldout"]
    assert summary["errors"] == 0
    assert summary["accuracy"] >= summary["majority_share"] + 0.05
    assert set(summary["method_result"]) == {"label", "score", "elapsed_time"}
    assert set(summary["http_result"]) == {"label", "score", "elapsed_time"}
    assert summary["label_before"] != summary["label_after"]
    assert summary["model"].startswith("sentiment:")
    manifest = json.loads((repo_root / "manifests" / "deployment.amd64.json").read_text())
    assert "sentiment" in manifest["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]

    # Nothing the demo started outlives it (hub, agent and modules all run on this venv's interpreter).
    assert processes_of(clean_venv) == []
