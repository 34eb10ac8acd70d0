"""The packaged model folder (``model.onnx``, ``tokenizer.json``, ``model.json``), loaded and checked.

``model.json`` (format ``edgeship-model/1``) is written by ``edgeship package``; the fields this
module relies on are validated here so a broken folder fails at start with one clear line,
not on the first message.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeship_sentiment.errors import ModelLoadError
from edgeship_sentiment.tokenizer import KerasTokenizer

MODEL_FORMAT = "edgeship-model/1"
INPUT_DTYPES = ("int64", "int32", "float32")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: int | None
    source: str
    source_sha256: str
    onnx_file: str
    onnx_sha256: str
    tokenizer_file: str
    sequence_length: int
    padding: str
    truncating: str
    pad_value: int
    input_name: str
    input_dtype: str
    output_name: str
    negative_label: str
    neutral_label: str
    positive_label: str
    thresholds: tuple[float, float]
    include_neutral: bool
    converter: str
    quantization: str | None
    lstm_hidden_size: int | None
    initial_h: str | None
    initial_c: str | None
    final_h: str | None
    final_c: str | None
    raw: dict[str, Any]


def _get(data: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ModelLoadError(f"{path}: '{key}' is missing or not a {getattr(kind, '__name__', kind)}")
    return value


def read_model_spec(path: Path) -> ModelSpec:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{path} does not exist (package a model with 'edgeship package')") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
        raise ModelLoadError(f"{path} is not an {MODEL_FORMAT} model description")
    thresholds = data.get("thresholds")
    if (not isinstance(thresholds, list) or len(thresholds) != 2
            or not all(isinstance(t, int | float) and not isinstance(t, bool) for t in thresholds)):
        raise ModelLoadError(f"{path}: 'thresholds' must be [low, high]")
    labels = _get(data, "labels", dict, path)
    lstm = data.get("lstm") if isinstance(data.get("lstm"), dict) else None
    input_dtype = _get(data, "input_dtype", str, path)
    if input_dtype not in INPUT_DTYPES:
        raise ModelLoadError(f"{path}: input_dtype {input_dtype!r} is not one of {INPUT_DTYPES}")
    converter = data.get("converter")
    return ModelSpec(
        name=str(data.get("name", "model")),
        version=data.get("version") if isinstance(data.get("version"), int) else None,
        source=str(data.get("source", "")),
        source_sha256=str(data.get("source_sha256", "")),
        onnx_file=_get(data, "onnx_file", str, path),
        onnx_sha256=str(data.get("onnx_sha256", "")),
        tokenizer_file=_get(data, "tokenizer_file", str, path),
        sequence_length=_get(data, "sequence_length", int, path),
        padding=str(data.get("padding", "pre")),
        truncating=str(data.get("truncating", "pre")),
        pad_value=int(data.get("pad_value", 0)),
        input_name=_get(data, "input_name", str, path),
        input_dtype=input_dtype,
        output_name=_get(data, "output_name", str, path),
        negative_label=str(labels.get("negative", "NEGATIVE")),
        neutral_label=str(labels.get("neutral", "NEUTRAL")),
        positive_label=str(labels.get("positive", "POSITIVE")),
        thresholds=(float(thresholds[0]), float(thresholds[1])),
        include_neutral=bool(data.get("include_neutral", True)),
        converter=str(converter.get("name", "unknown")) if isinstance(converter, dict) else "unknown",
        quantization=data.get("quantization") if isinstance(data.get("quantization"), str) else None,
        lstm_hidden_size=int(lstm["hidden_size"]) if lstm and isinstance(lstm.get("hidden_size"), int) else None,
        initial_h=lstm.get("initial_h") if lstm else None,
        initial_c=lstm.get("initial_c") if lstm else None,
        final_h=lstm.get("final_h") if lstm else None,
        final_c=lstm.get("final_c") if lstm else None,
        raw=data,
    )


def resolve_model_dir(explicit: Path | None = None) -> Path:
    """``--model-dir``, else ``$MODEL_DIR``, else ``$AZUREML_MODEL_DIR/models`` (Azure ML), else ``./model``."""
    if explicit is not None:
        return explicit
    if os.environ.get("MODEL_DIR"):
        return Path(os.environ["MODEL_DIR"])
    if os.environ.get("AZUREML_MODEL_DIR"):
        return Path(os.environ["AZUREML_MODEL_DIR"]) / "models"
    return Path("model")


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    spec: ModelSpec
    tokenizer: KerasTokenizer
    onnx_path: Path

    @property
    def identity(self) -> str:
        return self.spec.source or self.spec.name


def load_model_folder(path: Path, *, verify_sha256: bool = True) -> ModelFolder:
    if not path.is_dir():
        raise ModelLoadError(f"model folder {path} does not exist")
    spec = read_model_spec(path / "model.json")
    onnx_path = path / spec.onnx_file
    if not onnx_path.is_file():
        raise ModelLoadError(f"{onnx_path} does not exist")
    if verify_sha256 and spec.onnx_sha256:
        digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
        if digest != spec.onnx_sha256:
            raise ModelLoadError(f"{onnx_path} does not match the sha256 in model.json (a partial copy?)")
    tokenizer = KerasTokenizer.load(path / spec.tokenizer_file)
    return ModelFolder(path, spec, tokenizer, onnx_path)
