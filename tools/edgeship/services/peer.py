"""Azure ML's own inference server (``azmlinfsrv``), pinned in a venv of its own: the oracle and the baseline.

The contract test (``tests/modules/test_azureml_contract.py``) and the serving benchmark
(``bench/bench_serving.py``) run it beside edgeship's entry-script face. It is installed once
from PyPI into ``<cache>/azmlinfsrv-<version>`` (a file lock keeps parallel runs from installing
it twice; a stamp marks a finished install) and never mixed into the project's environment:
it brings Flask, gunicorn and pydantic of its own. ``launch_command`` binds it to loopback
(the server hard-codes ``0.0.0.0``) and can add the project's site-packages behind its own, so
the seed's TensorFlow script runs without a second TensorFlow install.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

from edgeship.errors import DeployError

VERSION = "1.5.1"
PACKAGE = f"azureml-inference-server-http=={VERSION}"
INSTALL_TIMEOUT = 900.0


def venv_path(cache: Path) -> Path:
    return cache / f"azmlinfsrv-{VERSION}"


def ensure_venv(cache: Path, python: str = sys.executable) -> Path:
    """The venv's folder, installing it first if needed; ``DeployError`` (one line) if it cannot be."""
    venv = venv_path(cache)
    stamp = venv / ".edgeship-installed"
    if stamp.is_file():
        return venv
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / f"azmlinfsrv-{VERSION}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file():
            return venv
        steps = [
            [python, "-m", "venv", "--clear", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PACKAGE],
        ]
        for step in steps:
            try:
                result = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise DeployError(f"cannot install {PACKAGE}: {exc}") from exc
            if result.returncode != 0:
                lines = [
                    line
                    for line in (result.stderr + result.stdout).splitlines()
                    if line.strip() and not line.startswith("WARNING: Location")
                ]
                raise DeployError(f"cannot install {PACKAGE}: {(lines or ['exit ' + str(result.returncode)])[-1]}")
        stamp.write_text(PACKAGE + "\n", encoding="utf-8")
    return venv


# Runs inside the peer's venv: its own argument parser and start-up, bound to loopback.
_LAUNCHER = """
import site, sys
for extra in sys.argv[1].split(":") if sys.argv[1] else []:
    site.addsitedir(extra)
import azureml_inference_server_http.amlserver as server
server.DEFAULT_HOST = "127.0.0.1"
sys.argv = ["azmlinfsrv", *sys.argv[2:]]
server.run()
"""


def launch_command(
    venv: Path, entry_script: Path, model_dir: Path, port: int, extra_site: list[Path] | None = None
) -> list[str]:
    extra = ":".join(str(p) for p in extra_site or [])
    return [
        str(venv / "bin" / "python"),
        "-c",
        _LAUNCHER,
        extra,
        "--entry_script",
        str(entry_script),
        "--model_dir",
        str(model_dir),
        "--port",
        str(port),
    ]


def project_site_packages() -> list[Path]:
    """This interpreter's site-packages (TensorFlow, tf_keras ... for the seed's script)."""
    import site

    return [Path(p) for p in site.getsitepackages()]
