"""`edgeship build` says plainly when no Docker engine is reachable (there is none on CI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_build(tmp_path: Path, module_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path / 'no-docker.sock'}"}
    return subprocess.run(
        [sys.executable, "-m", "edgeship", "build", "--module-dir", str(module_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_no_engine_is_a_one_line_error(tmp_path: Path, repo_root: Path) -> None:
    module_dir = tmp_path / "sentiment"
    (module_dir / "model").mkdir(parents=True)
    (module_dir / "model" / "model.json").write_text("{}")
    (module_dir / "module.json").write_text((repo_root / "modules" / "sentiment" / "module.json").read_text())
    result = run_build(tmp_path, module_dir, "--platform", "amd64")
    assert result.returncode == 1
    assert result.stderr.startswith("error: no Docker engine is reachable")
    assert result.stderr.count("\n") == 1


def test_missing_model_and_platform(tmp_path: Path, repo_root: Path) -> None:
    module_dir = tmp_path / "sentiment"
    module_dir.mkdir()
    module = json.loads((repo_root / "modules" / "sentiment" / "module.json").read_text())
    (module_dir / "module.json").write_text(json.dumps(module))
    result = run_build(tmp_path, module_dir)
    assert result.returncode == 1
    assert "holds no packaged model" in result.stderr
    del module["image"]["tag"]["platforms"]["arm32v7"]
    (module_dir / "module.json").write_text(json.dumps(module))
    result = run_build(tmp_path, module_dir, "--platform", "arm32v7")
    assert "lists no Dockerfile for arm32v7" in result.stderr
