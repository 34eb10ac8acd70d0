"""Is a downloaded package a model this module can serve in place of the running one?

``model.json`` must be this module's format, name the version the twin asked for, keep the labels
the running model gives (consumers downstream match on them), and its graph must take the input
it declares at its sequence length. Then the package's own parity sample, scored by the new
engine, must give the scores stored beside it: the model scores here as it did where it was built.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeship_sentiment.errors import ModelLoadError, ModelUpdateError
from edgeship_sentiment.jsontypes import ParitySample
from edgeship_sentiment.model import ModelFolder, load_model_folder
from edgeship_sentiment.model_spec import ModelSpec
from edgeship_sentiment.model_update.desired import DesiredModel
from edgeship_sentiment.scorer import Engine
from edgeship_sentiment.session import runtime_errors


def load_package(folder: Path, desired: DesiredModel, running: ModelSpec) -> ModelFolder:
    try:
        model = load_model_folder(folder)  # format, required fields, the ONNX file's sha256
    except ModelLoadError as exc:
        raise ModelUpdateError(str(exc).replace(str(folder) + "/", "")) from None
    spec = model.spec
    if (spec.name, spec.version) != (desired.name, desired.version):
        raise ModelUpdateError(f"the package is {spec.name}:{spec.version}, the twin asked for {desired.ref}")
    if spec.sequence_length < 1:
        raise ModelUpdateError(f"model.json: sequence_length {spec.sequence_length} is not positive")
    labels = (spec.negative_label, spec.neutral_label, spec.positive_label)
    if labels != (running.negative_label, running.neutral_label, running.positive_label):
        raise ModelUpdateError(f"model.json: labels {labels} differ from the running model's")
    return model


def load_engine(model: ModelFolder, intra_op_threads: int | None, padding_skip: bool) -> Engine:
    try:
        engine = Engine.load(model, intra_op_threads, padding_skip)
    except ModelLoadError as exc:
        raise ModelUpdateError(str(exc)) from None
    shape = next(i.shape for i in engine.session.get_inputs() if i.name == model.spec.input_name)
    length = shape[-1] if shape else None
    if isinstance(length, int) and length != model.spec.sequence_length:
        raise ModelUpdateError(f"model.onnx takes {length} tokens, model.json says {model.spec.sequence_length}")
    return engine


def parity_sample_of(spec: ModelSpec) -> ParitySample:
    """``model.json``'s ``parity_sample`` (left as read by ``ModelSpec``), checked and typed."""
    sample = spec.parity_sample
    if not isinstance(sample, dict):
        raise ModelUpdateError("model.json has no parity_sample (package it with this edgeship)")
    texts, expected, bound = sample.get("texts"), sample.get("scores"), sample.get("max_abs_diff", 1e-4)
    shape = "model.json: parity_sample must hold texts, as many scores and max_abs_diff <= 0.01"
    if not isinstance(texts, list) or not isinstance(expected, list):
        raise ModelUpdateError(shape)
    strings = [t for t in texts if isinstance(t, str)]
    numbers = [float(s) for s in expected if isinstance(s, int | float) and not isinstance(s, bool)]
    if (
        not texts
        or len(texts) != len(expected)
        or len(strings) != len(texts)
        or len(numbers) != len(expected)
        or not isinstance(bound, int | float)
        or not 0 <= bound <= 0.01
    ):
        raise ModelUpdateError(shape)
    return {"texts": strings, "scores": numbers, "max_abs_diff": float(bound)}


def check_parity_sample(engine: Engine) -> float:
    """The largest |score - stored score| over the package's parity sample; rejects beyond its bound."""
    sample = parity_sample_of(engine.model.spec)
    texts, expected, bound = sample["texts"], sample["scores"], sample["max_abs_diff"]
    try:
        scores = engine.raw_scores(texts)
    except runtime_errors() as exc:  # onnxruntime's own errors: a graph that loads may still fail to run
        raise ModelUpdateError(f"the new model cannot score its parity sample: {exc}") from None
    worst = float(np.max(np.abs(scores.astype(np.float64) - np.asarray(expected, dtype=np.float64))))
    if not worst <= bound:  # also catches NaN
        raise ModelUpdateError(
            f"parity sample failed: max |diff| {worst:.3g} over {len(texts)} texts (bound {bound:g})"
        )
    return worst
