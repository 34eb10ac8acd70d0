"""``bench_model_update.py`` stays runnable: one swap each way and one restart, on the small fixture.

A smoke run, not a measurement (figures: bench/results.md): it checks that the twin-patch path and
the restart baseline both run, name the new version, and lose nothing (the script fails otherwise).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.model_update import int8_copy

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_bench_model_update_smoke(
    repo_root: Path, small_model_dir: Path, packaged_model_dir: Path, tmp_path: Path
) -> None:
    int8 = int8_copy(packaged_model_dir, tmp_path / "int8")
    out = tmp_path / "result.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bench_model_update",
            str(packaged_model_dir),
            str(int8),
            str(small_model_dir / "heldout.jsonl"),
            "--swaps",
            "1",
            "--rate",
            "50",
            "--json",
            str(out),
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert (result["lost"], result["errors"]) == (0, 0)
    assert len(result["swaps_s"]["sentiment:2"]) == len(result["swaps_s"]["sentiment:1"]) == 1
    assert len(result["restarts_s"]) == 2
    assert result["peak_rss_kib"] > 0
    assert "twin patch" in done.stdout
