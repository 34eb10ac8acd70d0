"""Packaging the seed-format reference model with both converters, behind the parity gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from edgeship.errors import ParityError
from edgeship.packager import ModelSource, PackageOptions, package_model
from edgeship.packager import parity as parity_module
from edgeship_sentiment.tokenizer import KerasTokenizer

pytestmark = pytest.mark.slow


def source_of(folder: Path) -> ModelSource:
    files = {p.name: p for p in folder.iterdir() if p.is_file()}
    return ModelSource(files, "sentiment", 1, "0" * 64)


@pytest.mark.parametrize("converter", ["direct", "tf2onnx"])
def test_both_converters_pass_the_gate(small_model_dir: Path, tmp_path: Path, converter: str) -> None:
    result = package_model(
        source_of(small_model_dir),
        tmp_path / "model",
        PackageOptions(converter=converter, quantize="int8"),  # type: ignore[arg-type]
    )
    fp32, int8, *padskip = result.parity
    assert [r.variant for r in padskip] == (["padskip"] if converter == "direct" else [])
    for report in padskip:  # the module's padding skip on the int8 graph vs its full sequence: int8 bounds
        assert report.passed
        assert report.bounds == {
            "max_abs_diff": 0.05,
            "min_label_agreement": 0.99,
            "max_accuracy_drop": 0.005,
            "loss_significance": 0.05,
        }
        assert report.max_abs_diff <= 0.05
        assert report.label_agreement >= 0.99 or (report.agreement_p_value or 0.0) >= 0.05
    assert fp32.passed
    assert fp32.max_abs_diff <= 1e-5
    assert fp32.label_agreement == 1.0
    assert int8.passed
    assert int8.max_abs_diff <= 0.05
    assert int8.label_agreement >= 0.99 or (int8.agreement_p_value or 0.0) >= 0.05
    assert fp32.samples == sum(1 for _ in (small_model_dir / "heldout.jsonl").open())
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["format"] == "edgeship-model/1"
    assert meta["source"] == "sentiment:1"
    assert meta["converter"]["name"] == converter
    assert meta["quantization"] == "int8"
    assert meta["sequence_length"] == 300
    assert meta["thresholds"] == [0.4, 0.7]
    assert meta["encoder_classes"] == ["NEGATIVE", "POSITIVE"]
    assert meta["parity"]["fp32"]["passed"] is True
    assert result.sizes["onnx_int8"] < result.sizes["onnx_fp32"] / 2
    graph = onnx.load(str(tmp_path / "model" / "model.onnx"))
    op_types = {node.op_type for node in graph.graph.node}
    assert "Loop" not in op_types
    assert op_types & {"LSTM", "DynamicQuantizeLSTM"}
    tokenizer = KerasTokenizer.load(tmp_path / "model" / "tokenizer.json")
    assert len(tokenizer.word_index) > 100


def test_direct_exposes_initial_state_and_w2v_is_not_shipped(small_model_dir: Path, tmp_path: Path) -> None:
    result = package_model(source_of(small_model_dir), tmp_path / "model", PackageOptions(converter="direct"))
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["model.json", "model.onnx", "tokenizer.json"]
    assert result.model_json["lstm"] == {
        "cell": "LSTM",
        "hidden_size": 100,
        "initial_h": "initial_h",
        "initial_c": "initial_c",
        "final_h": "final_h",
        "final_c": "final_c",
    }
    model_json: Any = result.model_json
    padskip = model_json["parity"]["padskip"]
    assert padskip["passed"] is True
    assert padskip["bounds"] == {"max_abs_diff": 1e-5, "min_label_agreement": 1.0}  # fp32: the skip is exact
    assert padskip["max_abs_diff"] <= 1e-5
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "model" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_ids"]
    assert {i.name for i in session.get_overridable_initializers()} >= {"initial_h", "initial_c"}
    ids = np.zeros((3, 300), dtype=np.int64)
    ids[:, -2:] = [[1, 2], [3, 4], [5, 6]]
    assert [o.name for o in session.get_outputs()] == ["score", "final_h", "final_c"]
    plain = session.run(None, {"input_ids": ids})
    zero_state = np.zeros((1, 1, 100), np.float32)
    explicit = session.run(None, {"input_ids": ids, "initial_h": zero_state, "initial_c": zero_state})
    assert all(np.array_equal(a, b) for a, b in zip(plain, explicit, strict=True))
    assert plain[1].shape == plain[2].shape == (1, 3, 100)
    # Carrying the state across two calls is the same recurrence as one call over both halves.
    first = session.run(["final_h", "final_c"], {"input_ids": ids[:, :150]})
    second = session.run(None, {"input_ids": ids[:, 150:], "initial_h": first[0], "initial_c": first[1]})
    np.testing.assert_allclose(second[0], plain[0], atol=1e-6)


def test_auto_picks_direct(small_model_dir: Path, tmp_path: Path) -> None:
    assert package_model(source_of(small_model_dir), tmp_path / "m", PackageOptions()).converter == "direct"


def test_failing_gate_writes_nothing_and_keeps_previous(
    small_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "model"
    package_model(source_of(small_model_dir), out, PackageOptions(converter="direct"))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(parity_module, "FP32_MAX_DIFF", -1.0)
    with pytest.raises(ParityError, match=r"parity gate failed for fp32 on \d+ texts: max \|diff\|"):
        package_model(source_of(small_model_dir), out, PackageOptions(converter="tf2onnx"))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGESHIP_HOME": str(cwd / "home")}
    return subprocess.run(
        [sys.executable, "-m", "edgeship", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )


def test_cli_register_then_package(small_model_dir: Path, tmp_path: Path) -> None:
    assert run_cli("model", "register", str(small_model_dir), "-n", "sentiment", cwd=tmp_path).stdout == "sentiment:1\n"
    result = run_cli("package", "sentiment:1", "--out", "out/model", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "pass" in result.stdout
    assert "fp32" in result.stdout
    meta = json.loads((tmp_path / "out" / "model" / "model.json").read_text())
    assert meta["source"] == "sentiment:1"
    assert len(meta["source_sha256"]) == 64


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda d: (d / "model.h5").unlink(), "lacks model.h5"),
        (lambda d: (d / "model.h5").write_bytes(b"garbage"), "not an HDF5 file"),
        (lambda d: (d / "tokenizer.pkl").write_bytes((d / "encoder.pkl").read_bytes()), "expected a Keras Tokenizer"),
    ],
)
def test_cli_bad_model_folders(small_model_dir: Path, tmp_path: Path, break_it: object, message: str) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in small_model_dir.iterdir():
        (broken / path.name).write_bytes(path.read_bytes())
    break_it(broken)  # type: ignore[operator]
    result = run_cli("package", "--from-dir", str(broken), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ")
    assert message in last
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
