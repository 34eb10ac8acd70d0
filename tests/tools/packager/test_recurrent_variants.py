"""The direct converter matches Keras on the variants old and new models use: hard_sigmoid, GRU."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgeship.packager.direct import convert_direct
from edgeship.packager.keras_h5 import read_keras_h5

pytestmark = pytest.mark.slow


def build(kind: str, tmp_path: Path, **cell: object) -> Path:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras

    tf_keras.utils.set_random_seed(3)
    layers = tf_keras.layers
    recurrent = layers.LSTM(7, **cell) if kind == "LSTM" else layers.GRU(7, **cell)
    model = tf_keras.Sequential(
        [
            layers.Embedding(50, 6, input_length=20),
            layers.Dropout(0.3),
            recurrent,
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.build((None, 20))
    # Non-trivial biases, so gate order mistakes cannot hide behind zeros.
    weights = [w + np.random.RandomState(1).normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    path = tmp_path / f"{kind}.h5"
    model.save(path)
    return path


@pytest.mark.parametrize(
    ("kind", "cell"),
    [
        ("LSTM", {"recurrent_activation": "hard_sigmoid"}),
        ("LSTM", {"recurrent_activation": "sigmoid", "use_bias": False}),
        ("GRU", {"reset_after": True}),
        ("GRU", {"reset_after": False, "recurrent_activation": "hard_sigmoid"}),
    ],
)
def test_direct_matches_keras(kind: str, cell: dict[str, object], tmp_path: Path) -> None:
    import onnxruntime as ort
    import tf_keras

    path = build(kind, tmp_path, **cell)
    graph = convert_direct(read_keras_h5(path))
    session = ort.InferenceSession(graph.model.SerializeToString(), providers=["CPUExecutionProvider"])
    ids = np.random.RandomState(5).randint(0, 50, (16, 20)).astype(np.int64)
    ids[:4, :15] = 0
    expected = tf_keras.models.load_model(path, compile=False).predict(ids, verbose=0)
    actual = session.run(None, {"input_ids": ids})[0]
    assert np.abs(expected - actual).max() <= 1e-5
