"""The scoring core: text in, the seed's ``{"label", "score", "elapsed_time"}`` out.

Tokenize with the pure-Python Keras tokenizer, pre-pad, run onnxruntime, decode the label with
the seed's thresholds. No TensorFlow anywhere. When the graph exposes its recurrent state (the
direct converter's), only the real tokens run, from a precomputed state after the padding
(``padskip.py``); otherwise the full padded sequence does.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from edgeship_sentiment.errors import BadRequestError, ModelLoadError
from edgeship_sentiment.model import ModelFolder, ModelSpec
from edgeship_sentiment.padskip import PaddingSkip, StateNames, session_supports
from edgeship_sentiment.tokenizer import pad_sequences

MAX_TEXT_BYTES = 256 * 1024  # IoT Hub's message limit; nothing larger can arrive as one message


@dataclass(frozen=True)
class ScoringSettings:
    """What the twin (or a flag) may change while the module runs."""

    thresholds: tuple[float, float] = (0.4, 0.7)
    include_neutral: bool = True

    def validated(self) -> ScoringSettings:
        low, high = self.thresholds
        if not (0.0 <= low <= high <= 1.0):
            raise BadRequestError(f"thresholds must satisfy 0 <= negative <= positive <= 1, got {self.thresholds}")
        return self


@dataclass(frozen=True)
class Labels:
    negative: str = "NEGATIVE"
    neutral: str = "NEUTRAL"
    positive: str = "POSITIVE"


def decode_label(score: float, settings: ScoringSettings, labels: Labels) -> str:
    """The seed's ``decode_sentiment``."""
    if settings.include_neutral:
        if score <= settings.thresholds[0]:
            return labels.negative
        if score >= settings.thresholds[1]:
            return labels.positive
        return labels.neutral
    return labels.negative if score < 0.5 else labels.positive


def session_options(intra_op_threads: int | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    threads = intra_op_threads if intra_op_threads is not None else int(os.environ.get("ORT_INTRA_OP_THREADS", "1"))
    # One thread per call: on a 2-core edge box a single tweet's LSTM is too small to split well,
    # and concurrent requests are merged into batches instead (see batcher.py).
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return options


class Scorer:
    """Thread-safe: onnxruntime sessions may be run concurrently; settings swap atomically."""

    def __init__(self, model: ModelFolder, settings: ScoringSettings | None = None,
                 intra_op_threads: int | None = None, padding_skip: bool = True) -> None:
        import onnxruntime as ort

        self.model = model
        spec = model.spec
        self.labels = Labels(spec.negative_label, spec.neutral_label, spec.positive_label)
        self._settings = (settings or ScoringSettings(spec.thresholds, spec.include_neutral)).validated()
        self._lock = threading.Lock()
        try:
            self.session = ort.InferenceSession(str(model.onnx_path), session_options(intra_op_threads),
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for corrupt models
            raise ModelLoadError(f"onnxruntime cannot load {model.onnx_path}: {exc}") from None
        names = [i.name for i in self.session.get_inputs()]
        if spec.input_name not in names:
            raise ModelLoadError(f"model.onnx has inputs {names}, model.json names {spec.input_name!r}")
        self._dtype = np.dtype(spec.input_dtype)
        self.padding_skip = padding_skip_for(self.session, spec) if padding_skip else None

    @property
    def settings(self) -> ScoringSettings:
        return self._settings

    def update_settings(self, **changes: Any) -> ScoringSettings:
        with self._lock:
            self._settings = replace(self._settings, **changes).validated()
            return self._settings

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self.model.tokenizer.texts_to_sequences(texts)

    def raw_scores(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        spec = self.model.spec
        sequences = self.token_ids(texts)
        if self.padding_skip is not None:
            return self.padding_skip.scores(self.session, spec.output_name, sequences)
        padded = pad_sequences(sequences, spec.sequence_length, padding=spec.padding,  # type: ignore[arg-type]
                               truncating=spec.truncating, value=spec.pad_value)  # type: ignore[arg-type]
        output = self.session.run([spec.output_name], {spec.input_name: padded.astype(self._dtype, copy=False)})[0]
        return np.asarray(output, dtype=np.float32).reshape(len(texts), -1)[:, -1]

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        if not texts:
            return []
        for text in texts:
            check_text(text)
        started = time.perf_counter()
        scores = self.raw_scores(texts)
        elapsed = time.perf_counter() - started
        settings = self._settings
        return [{"label": decode_label(float(s), settings, self.labels), "score": float(s), "elapsed_time": elapsed}
                for s in scores]

    def score(self, text: str) -> dict[str, Any]:
        return self.score_batch([text])[0]


def padding_skip_for(session: Any, spec: ModelSpec) -> PaddingSkip | None:
    """The padding skip for this graph, or None when it cannot be exact (no state I/O, post-padding)."""
    if spec.initial_h is None or spec.final_h is None or spec.lstm_hidden_size is None or spec.padding != "pre":
        return None
    if (spec.initial_c is None) != (spec.final_c is None):
        return None
    names = StateNames(spec.initial_h, spec.final_h, spec.initial_c, spec.final_c)
    if not session_supports(session, names):
        return None
    return PaddingSkip.build(session, names, input_name=spec.input_name, input_dtype=np.dtype(spec.input_dtype),
                             sequence_length=spec.sequence_length, truncating=spec.truncating,
                             pad_value=spec.pad_value, hidden_size=spec.lstm_hidden_size)


def check_text(text: object) -> str:
    if not isinstance(text, str):
        raise BadRequestError(f"'text' must be a string, got {type(text).__name__}")
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_TEXT_BYTES:
        raise BadRequestError(f"'text' is larger than {MAX_TEXT_BYTES} bytes")
    return text
