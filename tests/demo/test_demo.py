"""`edgeship demo` end to end, as `make demo` runs it: summary values, clean exit, no process left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def processes_in(folders: list[Path]) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = (proc / "cwd").resolve()
        except OSError:
            continue
        if any(cwd == folder.resolve() for folder in folders):
            found.append(int(proc.name))
    return found


def test_demo_end_to_end(repo_root: Path, fixture_cache: Path) -> None:
    module_dirs = [repo_root / "modules" / "sentiment", repo_root / "modules" / "tweetsource"]
    before = set(processes_in(module_dirs))
    home = fixture_cache / "demo-home"  # the trained reference model is reused across runs
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeship",
            "demo",
            "--home",
            str(home),
            "--host",
            "127.0.0.77",
            "--rate",
            "200",
            "--json",
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["heldout"] > 100
    assert summary["messages"] == summary["heldout"]
    assert summary["errors"] == 0
    assert summary["accuracy"] >= summary["majority_share"] + 0.05
    assert set(summary["method_result"]) == {"label", "score", "elapsed_time"}
    assert set(summary["http_result"]) == {"label", "score", "elapsed_time"}
    assert summary["label_before"] != summary["label_after"]
    assert summary["model"].startswith("sentiment:")
    assert set(processes_in(module_dirs)) <= before
    manifest = json.loads((repo_root / "manifests" / "deployment.amd64.json").read_text())
    assert "sentiment" in manifest["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]
