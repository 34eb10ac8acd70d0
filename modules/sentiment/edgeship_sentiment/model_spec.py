"""``model.json`` (format ``edgeship-model/1``): the one owner of its fields, for writing and reading.

``edgeship package`` builds a ``ModelSpec`` and writes it with ``write``; the module, the
publisher and the model updater read it with ``ModelSpec.read``. Reading is lenient where the
format always was (optional fields get their defaults) and strict on what scoring needs, so a
broken folder fails at start with one clear line, not on the first message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from edgeship_sentiment.errors import ModelLoadError
from edgeship_sentiment.jsontypes import JSONObject, JSONValue

MODEL_FORMAT = "edgeship-model/1"
INPUT_DTYPES = ("int64", "int32", "float32")
T = TypeVar("T")


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
    lstm_cell: str | None = None
    encoder_classes: tuple[str, ...] = ()
    converter_versions: Mapping[str, str] = field(default_factory=dict)
    converter_seconds: float | None = None
    parity: Mapping[str, JSONValue] = field(default_factory=dict)
    sizes: Mapping[str, int] = field(default_factory=dict)
    created_at: str = ""
    # Left as read: the updater judges its shape when it checks a download (a module must still
    # start on a folder packaged before the sample existed).
    parity_sample: Mapping[str, JSONValue] | None = None

    @property
    def has_lstm(self) -> bool:
        return any(
            v is not None
            for v in (self.lstm_cell, self.lstm_hidden_size, self.initial_h, self.initial_c, self.final_h, self.final_c)
        )

    def to_json(self) -> JSONObject:
        data: JSONObject = {
            "format": MODEL_FORMAT,
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "source_sha256": self.source_sha256,
            "onnx_file": self.onnx_file,
            "onnx_sha256": self.onnx_sha256,
            "tokenizer_file": self.tokenizer_file,
            "sequence_length": self.sequence_length,
            "padding": self.padding,
            "truncating": self.truncating,
            "pad_value": self.pad_value,
            "input_name": self.input_name,
            "input_dtype": self.input_dtype,
            "output_name": self.output_name,
            "labels": {"negative": self.negative_label, "neutral": self.neutral_label, "positive": self.positive_label},
            "encoder_classes": [*self.encoder_classes],
            "thresholds": [*self.thresholds],
            "include_neutral": self.include_neutral,
            "lstm": (
                {
                    "cell": self.lstm_cell,
                    "hidden_size": self.lstm_hidden_size,
                    "initial_h": self.initial_h,
                    "initial_c": self.initial_c,
                    "final_h": self.final_h,
                    "final_c": self.final_c,
                }
                if self.has_lstm
                else None
            ),
            "converter": {
                "name": self.converter,
                "versions": {**self.converter_versions},
                "seconds": self.converter_seconds,
            },
            "quantization": self.quantization,
            "parity": dict(self.parity),
            "sizes": {**self.sizes},
            "created_at": self.created_at,
        }
        if self.parity_sample is not None:
            data["parity_sample"] = dict(self.parity_sample)
        return data

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> ModelSpec:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelLoadError(f"{path} does not exist (package a model with 'edgeship package')") from None
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot read {path}: {exc}") from None
        return cls.from_json(data, path)

    @classmethod
    def from_json(cls, data: object, path: Path) -> ModelSpec:
        """``path`` only names the file in error messages."""
        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            raise ModelLoadError(f"{path} is not an {MODEL_FORMAT} model description")
        thresholds = data.get("thresholds")
        if (
            not isinstance(thresholds, list)
            or len(thresholds) != 2
            or not all(isinstance(t, int | float) and not isinstance(t, bool) for t in thresholds)
        ):
            raise ModelLoadError(f"{path}: 'thresholds' must be [low, high]")
        labels = _get(data, "labels", dict, path)
        lstm = data.get("lstm") if isinstance(data.get("lstm"), dict) else None
        input_dtype = _get(data, "input_dtype", str, path)
        if input_dtype not in INPUT_DTYPES:
            raise ModelLoadError(f"{path}: input_dtype {input_dtype!r} is not one of {INPUT_DTYPES}")
        converter: dict[str, object] = _section(data, "converter", dict)
        seconds = converter.get("seconds")
        sample = data.get("parity_sample")
        return cls(
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
            converter=str(converter.get("name", "unknown")),
            quantization=data.get("quantization") if isinstance(data.get("quantization"), str) else None,
            lstm_hidden_size=int(lstm["hidden_size"]) if lstm and isinstance(lstm.get("hidden_size"), int) else None,
            initial_h=_opt_str(lstm, "initial_h"),
            initial_c=_opt_str(lstm, "initial_c"),
            final_h=_opt_str(lstm, "final_h"),
            final_c=_opt_str(lstm, "final_c"),
            lstm_cell=_opt_str(lstm, "cell"),
            encoder_classes=tuple(str(c) for c in _section(data, "encoder_classes", list)),
            converter_versions={str(k): str(v) for k, v in _section(converter, "versions", dict).items()},
            converter_seconds=float(seconds)
            if isinstance(seconds, int | float) and not isinstance(seconds, bool)
            else None,
            parity=dict(_section(data, "parity", dict)),
            sizes={str(k): v for k, v in _section(data, "sizes", dict).items() if type(v) is int},
            created_at=str(data.get("created_at", "")),
            parity_sample=sample if isinstance(sample, dict) else None,
        )


def _get(data: Mapping[str, object], key: str, kind: type[T], path: Path) -> T:
    value = data.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ModelLoadError(f"{path}: '{key}' is missing or not a {kind.__name__}")
    return value


def _section(data: Mapping[str, object], key: str, kind: type[T]) -> T:
    """An optional, informational field: the wrong kind reads as empty (it never mattered for scoring)."""
    value = data.get(key)
    return value if isinstance(value, kind) else kind()


def _opt_str(section: Mapping[str, object] | None, key: str) -> str | None:
    value = section.get(key) if section else None
    return value if isinstance(value, str) else None
