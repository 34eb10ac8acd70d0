"""model.json has one owner: ``ModelSpec`` writes what it reads, and reads what the packager wrote."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from edgeship_sentiment.errors import ModelLoadError
from edgeship_sentiment.model_spec import MODEL_FORMAT, ModelSpec


def _spec() -> ModelSpec:
    return ModelSpec(
        name="sentiment",
        version=3,
        source="sentiment:3",
        source_sha256="a" * 64,
        onnx_file="model.onnx",
        onnx_sha256="b" * 64,
        tokenizer_file="tokenizer.json",
        sequence_length=300,
        padding="pre",
        truncating="pre",
        pad_value=0,
        input_name="input_ids",
        input_dtype="int64",
        output_name="score",
        negative_label="NEGATIVE",
        neutral_label="NEUTRAL",
        positive_label="POSITIVE",
        thresholds=(0.4, 0.7),
        include_neutral=True,
        converter="direct",
        quantization=None,
        lstm_hidden_size=100,
        initial_h="initial_h",
        initial_c="initial_c",
        final_h="final_h",
        final_c="final_c",
        lstm_cell="LSTM",
        encoder_classes=("NEGATIVE", "POSITIVE"),
        converter_versions={"onnx": "1.17.0"},
        converter_seconds=1.25,
        parity={"fp32": {"max_abs_diff": 1e-6}},
        sizes={"model.h5": 10, "onnx_fp32": 8},
        created_at="2026-12-01T23:00:00Z",
        parity_sample={"texts": ["good"], "scores": [0.9], "max_abs_diff": 1e-4},
    )


def test_write_then_read_gives_the_same_spec(tmp_path: Path) -> None:
    spec = _spec()
    spec.write(tmp_path / "model.json")
    assert ModelSpec.read(tmp_path / "model.json") == spec
    data = json.loads((tmp_path / "model.json").read_text())
    assert data["format"] == MODEL_FORMAT == "edgeship-model/1"
    assert data["lstm"] == {
        "cell": "LSTM",
        "hidden_size": 100,
        "initial_h": "initial_h",
        "initial_c": "initial_c",
        "final_h": "final_h",
        "final_c": "final_c",
    }
    assert data["labels"] == {"negative": "NEGATIVE", "neutral": "NEUTRAL", "positive": "POSITIVE"}
    assert data["converter"] == {"name": "direct", "versions": {"onnx": "1.17.0"}, "seconds": 1.25}


def test_a_spec_without_lstm_or_sample_round_trips(tmp_path: Path) -> None:
    spec = replace(
        _spec(),
        lstm_cell=None,
        lstm_hidden_size=None,
        initial_h=None,
        initial_c=None,
        final_h=None,
        final_c=None,
        parity_sample=None,
        converter="tf2onnx",
        quantization="int8",
    )
    data = spec.to_json()
    assert data["lstm"] is None
    assert "parity_sample" not in data
    assert ModelSpec.from_json(json.loads(json.dumps(data)), tmp_path / "model.json") == spec


def test_the_packagers_model_json_round_trips(packaged_model_dir: Path) -> None:
    written = json.loads((packaged_model_dir / "model.json").read_text())
    spec = ModelSpec.read(packaged_model_dir / "model.json")
    assert spec.to_json() == written
    assert (spec.version, spec.lstm_cell) == (1, "LSTM")
    assert spec.parity_sample is not None


def test_optional_fields_read_as_their_defaults(tmp_path: Path) -> None:
    minimal = {
        "format": MODEL_FORMAT,
        "onnx_file": "m.onnx",
        "tokenizer_file": "t.json",
        "sequence_length": 5,
        "input_name": "x",
        "input_dtype": "int32",
        "output_name": "y",
        "labels": {},
        "thresholds": [0.3, 0.6],
    }
    spec = ModelSpec.from_json(minimal, tmp_path / "model.json")
    assert (spec.name, spec.version, spec.converter) == ("model", None, "unknown")
    assert (spec.padding, spec.pad_value) == ("pre", 0)
    assert (spec.negative_label, spec.positive_label, spec.thresholds) == ("NEGATIVE", "POSITIVE", (0.3, 0.6))
    assert not spec.has_lstm
    assert (spec.parity_sample, spec.sizes) == (None, {})


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="edgeship-model/2"), "is not an edgeship-model/1 model description"),
        (lambda d: d.update(thresholds=[0.4]), "'thresholds' must be [low, high]"),
        (lambda d: d.update(sequence_length=True), "'sequence_length' is missing or not a int"),
        (lambda d: d.update(input_dtype="float64"), "input_dtype 'float64' is not one of"),
    ],
)
def test_a_broken_model_json_is_one_error(tmp_path: Path, edit: object, message: str) -> None:
    data = _spec().to_json()
    edit(data)  # type: ignore[operator]
    (tmp_path / "model.json").write_text(json.dumps(data))
    with pytest.raises(ModelLoadError) as raised:
        ModelSpec.read(tmp_path / "model.json")
    assert message in str(raised.value)


def test_a_missing_or_unreadable_model_json(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        ModelSpec.read(tmp_path / "model.json")
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="cannot read"):
        ModelSpec.read(tmp_path / "model.json")
