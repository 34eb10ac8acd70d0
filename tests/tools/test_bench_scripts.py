"""The benchmark scripts stay runnable: each runs once on the small fixture with tiny counts.

These are smoke runs, not measurements (timed claims live in bench/results.md); what they check
is that every path a benchmark compares still runs, scores, and loses nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def run_bench(repo_root: Path, script: str, *args: str, timeout: float = 300) -> str:
    """``python -m bench.<script>`` from the repository root, as ``edgeship bench`` runs it."""
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{script.removesuffix('.py')}", *args],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_coldstart_and_sizes(repo_root: Path, small_model_dir: Path, packaged_model_dir: Path, tmp_path: Path) -> None:
    out = run_bench(
        repo_root,
        "bench_coldstart.py",
        str(small_model_dir),
        str(packaged_model_dir),
        str(packaged_model_dir),
        "--repeat",
        "1",
        "--json",
        str(tmp_path / "r.json"),
    )
    results = json.loads((tmp_path / "r.json").read_text())
    cold = results["cold_start"]
    assert len(cold) == 3
    seed, module = (
        cold["seed path: tf_keras load_model + pickle + predict"],
        cold["module fp32: onnxruntime + padding skip"],
    )
    assert seed["median_s"] > module["median_s"] > 0
    runtime = results["runtime_bytes"]
    assert "tensorflow" in runtime["seed"]
    assert "tensorflow" not in runtime["module"]
    assert sum(runtime["seed"].values()) > 5 * sum(runtime["module"].values())
    assert "| module fp32: model.onnx + tokenizer.json + model.json |" in out


def test_e2e_loses_nothing(repo_root: Path, small_model_dir: Path, packaged_model_dir: Path, tmp_path: Path) -> None:
    run_bench(
        repo_root,
        "bench_e2e.py",
        str(packaged_model_dir),
        str(small_model_dir / "heldout.jsonl"),
        "--messages",
        "60",
        "--batch",
        "16",
        "--batched-messages",
        "4",
        "--latency-messages",
        "20",
        "--rate",
        "50",
        "--window",
        "4",
        "--repeat",
        "1",
        "--json",
        str(tmp_path / "r.json"),
    )
    runs = json.loads((tmp_path / "r.json").read_text())
    assert len(runs) == 5
    for run in runs.values():
        assert run["texts_received"] == run["texts_expected"]
        assert run["errors"] == 0
    batched = next(r for label, r in runs.items() if "16 tweets/message" in label)
    assert batched["texts_received"] == 64
