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

import numpy as np
import numpy.typing as npt

from edgeship_sentiment.errors import BadRequestError, ModelLoadError
from edgeship_sentiment.jsontypes import ScoreResult
from edgeship_sentiment.model import ModelFolder
from edgeship_sentiment.model_spec import ModelSpec
from edgeship_sentiment.padskip import PaddingSkip, StateNames, session_supports
from edgeship_sentiment.session import DType, InferenceSession, runtime_errors
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


def session_options(intra_op_threads: int | None = None) -> object:
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


class TaggedText(str):
    """A text that learns which engine scored it.

    The batcher passes the very text objects it was given to ``raw_scores``; the engine that
    scores them is written onto them, so a face can name the model version of each result
    without the batcher carrying it (a swap may happen between any two batches).
    """

    engine: Engine | None = None


@dataclass(frozen=True)
class Engine:
    """One loaded model: folder, session, padding skip. Immutable, so a swap is one assignment."""

    model: ModelFolder
    session: InferenceSession
    padding_skip: PaddingSkip | None
    labels: Labels
    dtype: DType

    @property
    def version(self) -> str:
        """``name:version`` as the registry names it (the result's ``model`` property)."""
        spec = self.model.spec
        return f"{spec.name}:{spec.version}" if spec.version is not None else spec.name

    @classmethod
    def load(cls, model: ModelFolder, intra_op_threads: int | None = None, padding_skip: bool = True) -> Engine:
        import onnxruntime as ort

        spec = model.spec
        try:
            session: InferenceSession = ort.InferenceSession(
                str(model.onnx_path), session_options(intra_op_threads), providers=["CPUExecutionProvider"]
            )
        except runtime_errors() as exc:  # onnxruntime raises its own exception types for corrupt models
            raise ModelLoadError(f"onnxruntime cannot load {model.onnx_path}: {exc}") from None
        names = [i.name for i in session.get_inputs()]
        if spec.input_name not in names:
            raise ModelLoadError(f"model.onnx has inputs {names}, model.json names {spec.input_name!r}")
        outputs = [o.name for o in session.get_outputs()]
        if spec.output_name not in outputs:
            raise ModelLoadError(f"model.onnx has outputs {outputs}, model.json names {spec.output_name!r}")
        return cls(
            model,
            session,
            padding_skip_for(session, spec) if padding_skip else None,
            Labels(spec.negative_label, spec.neutral_label, spec.positive_label),
            np.dtype(spec.input_dtype),
        )

    def raw_scores(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        spec = self.model.spec
        sequences = self.model.tokenizer.texts_to_sequences(texts)
        if self.padding_skip is not None:
            return self.padding_skip.scores(self.session, spec.output_name, sequences)
        padded = pad_sequences(
            sequences,
            spec.sequence_length,
            padding=spec.padding,  # type: ignore[arg-type]
            truncating=spec.truncating,  # type: ignore[arg-type]
            value=spec.pad_value,
        )
        output = self.session.run([spec.output_name], {spec.input_name: padded.astype(self.dtype, copy=False)})[0]
        return np.asarray(output, dtype=np.float32).reshape(len(texts), -1)[:, -1]


class Scorer:
    """Thread-safe: onnxruntime sessions may be run concurrently; settings and engines swap atomically.

    Every call reads the engine once, so a swap between two calls never mixes two models in one
    batch: a batch is scored by the engine it started with, the next by the new one.
    """

    def __init__(
        self,
        model: ModelFolder,
        settings: ScoringSettings | None = None,
        intra_op_threads: int | None = None,
        padding_skip: bool = True,
    ) -> None:
        spec = model.spec
        self._settings = (settings or ScoringSettings(spec.thresholds, spec.include_neutral)).validated()
        self._lock = threading.Lock()
        self.intra_op_threads = intra_op_threads
        self.use_padding_skip = padding_skip
        self._engine = Engine.load(model, intra_op_threads, padding_skip)

    @property
    def engine(self) -> Engine:
        return self._engine

    def swap(self, engine: Engine) -> Engine:
        """Install ``engine`` for every later call; returns the one it replaced."""
        with self._lock:
            previous, self._engine = self._engine, engine
            return previous

    # The current engine's parts, for callers that predate engines (batcher, faces, tests).
    @property
    def model(self) -> ModelFolder:
        return self._engine.model

    @property
    def session(self) -> InferenceSession:
        return self._engine.session

    @property
    def padding_skip(self) -> PaddingSkip | None:
        return self._engine.padding_skip

    @property
    def labels(self) -> Labels:
        return self._engine.labels

    @property
    def settings(self) -> ScoringSettings:
        return self._settings

    def update_settings(
        self, *, thresholds: tuple[float, float] | None = None, include_neutral: bool | None = None
    ) -> ScoringSettings:
        """Change what is given, keep the rest; refused as a whole when the result is not valid."""
        with self._lock:
            settings = self._settings
            if thresholds is not None:
                settings = replace(settings, thresholds=thresholds)
            if include_neutral is not None:
                settings = replace(settings, include_neutral=include_neutral)
            self._settings = settings.validated()
            return self._settings

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self._engine.model.tokenizer.texts_to_sequences(texts)

    def raw_scores(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        engine = self._engine
        scores = engine.raw_scores(texts)
        for text in texts:
            if isinstance(text, TaggedText):
                text.engine = engine
        return scores

    def score_batch(self, texts: Sequence[str]) -> list[ScoreResult]:
        if not texts:
            return []
        for text in texts:
            check_text(text)
        engine = self._engine
        started = time.perf_counter()
        scores = engine.raw_scores(texts)
        elapsed = time.perf_counter() - started
        settings = self._settings
        return [
            {"label": decode_label(float(s), settings, engine.labels), "score": float(s), "elapsed_time": elapsed}
            for s in scores
        ]

    def score(self, text: str) -> ScoreResult:
        return self.score_batch([text])[0]


def padding_skip_for(session: InferenceSession, spec: ModelSpec) -> PaddingSkip | None:
    """The padding skip for this graph, or None when it cannot be exact (no state I/O, post-padding)."""
    if spec.initial_h is None or spec.final_h is None or spec.lstm_hidden_size is None or spec.padding != "pre":
        return None
    if (spec.initial_c is None) != (spec.final_c is None):
        return None
    names = StateNames(spec.initial_h, spec.final_h, spec.initial_c, spec.final_c)
    if not session_supports(session, names):
        return None
    return PaddingSkip.build(
        session,
        names,
        input_name=spec.input_name,
        input_dtype=np.dtype(spec.input_dtype),
        sequence_length=spec.sequence_length,
        truncating=spec.truncating,
        pad_value=spec.pad_value,
        hidden_size=spec.lstm_hidden_size,
    )


def check_text(text: object) -> str:
    if not isinstance(text, str):
        raise BadRequestError(f"'text' must be a string, got {type(text).__name__}")
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_TEXT_BYTES:
        raise BadRequestError(f"'text' is larger than {MAX_TEXT_BYTES} bytes")
    return text
