"""`edgeship bench` needs the demo's cached reference model and says so in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_bench_without_a_reference_model(tmp_path: Path, repo_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edgeship", "bench", "scoring", "--home", str(tmp_path)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: no reference model under")
