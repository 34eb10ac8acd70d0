"""The direct converter refuses what it cannot convert, naming the layer (no TensorFlow needed)."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from edgeship.errors import PackagingError, UnsupportedModelError
from edgeship.jsontypes import JSONValue
from edgeship.packager.direct import convert_direct
from edgeship.packager.keras_h5 import KerasLayer, KerasModel, read_keras_h5


def layer(kind: str, name: str, **config: JSONValue) -> KerasLayer:
    weights: tuple[np.ndarray, ...] = ()
    if kind == "Embedding":
        weights = (np.zeros((10, 4), np.float32),)
    elif kind == "LSTM":
        weights = (np.zeros((4, 8), np.float32), np.zeros((2, 8), np.float32), np.zeros(8, np.float32))
    elif kind == "Dense":
        weights = (np.zeros((2, 1), np.float32), np.zeros(1, np.float32))
    return KerasLayer(kind, name, {"name": name, "units": 2, "input_length": 5, **config}, weights)


def model(*layers: KerasLayer, class_name: str = "Sequential") -> KerasModel:
    return KerasModel(class_name, layers, "2.2.4", "float32")


def test_supported_sequence_converts() -> None:
    graph = convert_direct(
        model(
            layer("Embedding", "emb"),
            layer("Dropout", "d"),
            layer("LSTM", "lstm"),
            layer("Dense", "out", activation="sigmoid"),
        )
    )
    assert [n.op_type for n in graph.model.graph.node].count("LSTM") == 1
    assert graph.hidden_size == 2
    assert graph.sequence_length == 5


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ((layer("Embedding", "emb"), layer("Conv1D", "conv"), layer("Dense", "out")), "layer 'conv' (Conv1D)"),
        ((layer("Embedding", "emb", mask_zero=True), layer("LSTM", "l"), layer("Dense", "o")), "mask_zero"),
        (
            (layer("Embedding", "emb"), layer("LSTM", "l", return_sequences=True), layer("Dense", "o")),
            "return_sequences",
        ),
        (
            (layer("Embedding", "emb"), layer("LSTM", "l", recurrent_activation="softsign"), layer("Dense", "o")),
            "'softsign'",
        ),
        ((layer("Embedding", "emb"), layer("Dense", "o")), "Embedding -> LSTM|GRU -> Dense"),
        ((layer("Embedding", "emb"), layer("LSTM", "l"), layer("Dense", "o", activation="selu")), "'selu'"),
    ],
)
def test_unsupported_models_name_the_layer(layers: tuple[KerasLayer, ...], message: str) -> None:
    with pytest.raises(UnsupportedModelError, match=re.escape(message)):
        convert_direct(model(*layers))


def test_functional_models_refused() -> None:
    with pytest.raises(UnsupportedModelError, match="Sequential models, not Functional"):
        convert_direct(model(layer("Embedding", "emb"), class_name="Functional"))


def test_non_keras_h5_and_non_hdf5(tmp_path: Path) -> None:
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as handle:
        handle["x"] = np.zeros(3)
    with pytest.raises(PackagingError, match="not a saved Keras model"):
        read_keras_h5(plain)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(PackagingError, match="not an HDF5 file"):
        read_keras_h5(junk)
    with pytest.raises(PackagingError, match="does not exist"):
        read_keras_h5(tmp_path / "absent.h5")
