"""iotedgedev 3.3.9, the real template generator, in its own virtual environment under ``.cache/``.

Installed once (a stamp file marks a finished install, a lock keeps two sessions from racing);
``None`` with the reason when it cannot be installed (no network to PyPI, no venv module).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IOTEDGEDEV = "iotedgedev==3.3.9"
REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".cache" / "iotedgedev-3.3.9"
STAMP = VENV / ".edgeship-installed"
DRIVER = Path(__file__).resolve().parent / "programs" / "iotedgedev_driver.py"


def ensure_iotedgedev() -> tuple[Path | None, str]:
    """(path of the iotedgedev executable, "") or (None, why it is not available)."""
    executable = VENV / "bin" / "iotedgedev"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / "iotedgedev.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if STAMP.is_file() and STAMP.read_text() == IOTEDGEDEV and executable.is_file():
            return executable, ""
        steps = (
            [sys.executable, "-m", "venv", "--clear", str(VENV)],
            [
                str(VENV / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-compile",
                IOTEDGEDEV,
            ],
        )
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=600, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return None, f"cannot install {IOTEDGEDEV}: {exc}"
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                return None, f"cannot install {IOTEDGEDEV} into {VENV}: {last}"
        STAMP.write_text(IOTEDGEDEV)
    return executable, ""


def clean_environment(home: Path, config_dir: Path, modules_path: str | None = None) -> dict[str, str]:
    """The environment iotedgedev runs with: nothing from ours (edgeship's side gets none either)."""
    settings = home / ".iotedgedev" / "setting.ini"
    if not settings.is_file():  # no first-run banner, no telemetry upload attempts
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text("[DEFAULT]\nfirsttime = no\ncollect_telemetry = no\n")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CONFIG_OUTPUT_DIR": str(config_dir),
        "LANG": "C.UTF-8",
        # iotedgedev downloads its schema (and skips the check when that fails): point it at a closed
        # loopback port, so it fails at once instead of waiting on DNS, and nothing leaves the machine
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
    }
    if modules_path is not None:
        env["MODULES_PATH"] = modules_path
    return env


@dataclass(frozen=True)
class Job:
    folder: Path
    template: str
    platform: str
    modules_path: str | None = None


@dataclass(frozen=True)
class Result:
    exit_code: int
    output: str
    manifest: Any  # the JSON iotedgedev wrote, or None


def genconfig_all(executable: Path, jobs: list[Job], home: Path) -> list[Result]:
    """``iotedgedev genconfig -f <template> -P <platform>`` in each job's folder, in one driver process."""
    python = executable.parent / "python"
    specs = [
        {
            "folder": str(job.folder),
            "template": job.template,
            "platform": job.platform,
            "env": clean_environment(home, job.folder / "config", job.modules_path),
        }
        for job in jobs
    ]
    jobs_file = home / "jobs.json"
    jobs_file.write_text(json.dumps(specs))
    subprocess.run([str(python), str(DRIVER), str(jobs_file)], capture_output=True, text=True, timeout=600, check=False)
    results: list[Result] = []
    for job in jobs:
        code_file, log = job.folder / "exit_code", job.folder / "output.log"
        code = int(code_file.read_text()) if code_file.is_file() else -1
        written = sorted((job.folder / "config").glob("*.json"))
        manifest = json.loads(written[0].read_text(encoding="utf-8")) if written else None
        results.append(Result(code, log.read_text(errors="replace") if log.is_file() else "", manifest))
    return results
