"""The parity gate: the converted model must score like the original on held-out text.

The reference is the original, unmodified path: the pickled tokenizer's state in a real tf_keras
``Tokenizer``, tf_keras ``pad_sequences`` and ``model.predict``. The candidate is what the device
runs: our pure-Python tokenizer and onnxruntime. Bounds: fp32 max |diff| <= 1e-5 and 100 % label
agreement; int8 label agreement >= 99 % and accuracy drop <= 0.5 points.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeship.errors import ParityError
from edgeship.packager.heldout import HeldoutSet
from edgeship_sentiment.padskip import PaddingSkip

FP32_MAX_DIFF = 1e-5
INT8_MIN_AGREEMENT = 0.99
INT8_MAX_ACCURACY_DROP = 0.005
BATCH = 256
# fp32 vs Keras, and the padding skip vs the full sequence on the same graph, must agree exactly.
STRICT_VARIANTS = ("fp32", "padskip")


@dataclass(frozen=True)
class Labelling:
    thresholds: tuple[float, float] = (0.4, 0.7)
    negative: str = "NEGATIVE"
    neutral: str = "NEUTRAL"
    positive: str = "POSITIVE"

    def decode(self, scores: npt.NDArray[np.float32]) -> list[str]:
        low, high = self.thresholds
        return [self.negative if s <= low else self.positive if s >= high else self.neutral for s in scores]

    def decode_binary(self, scores: npt.NDArray[np.float32]) -> list[str]:
        return [self.negative if s < 0.5 else self.positive for s in scores]


@dataclass(frozen=True)
class ParityReport:
    variant: str  # "fp32" or "int8"
    heldout: str
    samples: int
    max_abs_diff: float
    mean_abs_diff: float
    label_agreement: float
    keras_accuracy: float | None
    onnx_accuracy: float | None
    passed: bool
    bounds: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def keras_reference_scores(h5_path: Path, tokenizer_state: dict[str, Any], texts: tuple[str, ...],
                           sequence_length: int) -> npt.NDArray[np.float32]:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras
    from tf_keras.preprocessing.sequence import pad_sequences
    from tf_keras.preprocessing.text import Tokenizer

    tokenizer = Tokenizer()
    tokenizer.__dict__.update(tokenizer_state)
    model = tf_keras.models.load_model(h5_path, compile=False)
    x = pad_sequences(tokenizer.texts_to_sequences(list(texts)), maxlen=sequence_length)
    return np.asarray(model.predict(x, batch_size=BATCH, verbose=0), dtype=np.float32).reshape(-1)


def onnx_scores(session: Any, input_name: str, input_dtype: str,
                ids: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.float32]:
    output_name = session.get_outputs()[0].name
    parts = [session.run([output_name], {input_name: ids[i:i + BATCH].astype(input_dtype)})[0]
             for i in range(0, len(ids), BATCH)]
    return np.concatenate(parts).astype(np.float32).reshape(-1)


def padskip_scores(session: Any, skip: PaddingSkip, output_name: str,
                   sequences: list[list[int]]) -> npt.NDArray[np.float32]:
    """What the module runs: each batch over its real tokens only, from the precomputed pad state."""
    parts = [skip.scores(session, output_name, sequences[i:i + BATCH]) for i in range(0, len(sequences), BATCH)]
    return np.concatenate(parts)


def _accuracy(predicted: list[str], truth: tuple[str, ...] | None) -> float | None:
    if truth is None:
        return None
    return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))


def compare(variant: str, heldout: HeldoutSet, reference: npt.NDArray[np.float32],
            candidate: npt.NDArray[np.float32], labelling: Labelling, strict: bool | None = None) -> ParityReport:
    """``strict`` (default: the variant is fp32 or padskip): max |diff| and every label; else int8's bounds."""
    diff = np.abs(reference - candidate)
    agreement = float(np.mean([a == b for a, b in zip(labelling.decode(reference), labelling.decode(candidate),
                                                          strict=True)]))
    keras_accuracy = _accuracy(labelling.decode_binary(reference), heldout.labels)
    onnx_accuracy = _accuracy(labelling.decode_binary(candidate), heldout.labels)
    if strict is None:
        strict = variant in STRICT_VARIANTS
    if strict:
        bounds = {"max_abs_diff": FP32_MAX_DIFF, "min_label_agreement": 1.0}
        passed = float(diff.max()) <= FP32_MAX_DIFF and agreement == 1.0
    else:
        bounds = {"min_label_agreement": INT8_MIN_AGREEMENT, "max_accuracy_drop": INT8_MAX_ACCURACY_DROP}
        drop = (keras_accuracy or 0.0) - (onnx_accuracy or 0.0)
        passed = agreement >= INT8_MIN_AGREEMENT and drop <= INT8_MAX_ACCURACY_DROP + 1e-12
    return ParityReport(variant, heldout.source, len(reference), float(diff.max()), float(diff.mean()), agreement,
                        keras_accuracy, onnx_accuracy, passed, bounds)


def enforce(report: ParityReport) -> None:
    if report.passed:
        return
    accuracy = ""
    if report.keras_accuracy is not None and report.onnx_accuracy is not None:
        accuracy = f", accuracy keras {report.keras_accuracy:.2%} vs onnx {report.onnx_accuracy:.2%}"
    raise ParityError(
        f"parity gate failed for {report.variant} on {report.samples} texts: max |diff| {report.max_abs_diff:.3g}, "
        f"label agreement {report.label_agreement:.2%}{accuracy} (bounds {report.bounds}); nothing was written"
    )
