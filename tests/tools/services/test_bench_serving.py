"""bench/bench_serving.py stays runnable (a smoke run, not a measurement: figures live in bench/results.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_serving_benchmark_runs_and_writes_its_section(
    repo_root: Path, small_model_dir: Path, packaged_model_dir: Path, tmp_path: Path
) -> None:
    if shutil.which("hey") is None:
        pytest.skip("hey is not installed (make test installs it when root)")
    results = tmp_path / "results.md"
    results.write_text("# Benchmark results\n\n## scoring\n\nkept as it is\n")
    rows_path = tmp_path / "rows.json"
    command = [
        sys.executable,
        "-m",
        "bench.bench_serving",
        str(small_model_dir),
        str(packaged_model_dir),
        "--skip-peer",
        "--duration",
        "1",
        "--rounds",
        "1",
        "--results",
        str(results),
        "--json",
        str(rows_path),
    ]
    result = subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(rows_path.read_text())
    onnx = [r for r in rows if r["path"] == "edgeship ONNX"]
    assert [r["load"] for r in onnx] == [
        "1 client, keep-alive",
        "1 client, new connection each",
        "32 clients",
        "256 clients",
    ]
    assert all(r["requests"] > 0 and r["errors"] == 0 for r in onnx)
    assert any(r["path"] == "edgeship ONNX, fixed 2 ms wait" for r in rows)
    text = results.read_text()
    assert "## scoring\n\nkept as it is\n" in text
    assert text.count("## serving") == 1
    assert "| edgeship ONNX | 256 clients |" in text
