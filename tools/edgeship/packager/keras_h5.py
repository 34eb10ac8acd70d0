"""Reading a Keras 2 h5 file (architecture and weights) with h5py alone: no TensorFlow.

Handles the layouts Keras 2.x wrote: ``model_config`` as JSON in the root attributes (Sequential
with ``config.layers`` or, from Keras <= 2.2.4, ``config`` being the layer list) and weights under
``model_weights/<layer>/`` listed by each layer group's ``weight_names`` attribute.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edgeship.errors import PackagingError
from edgeship.jsontypes import JSONObject

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class KerasLayer:
    class_name: str
    name: str
    config: JSONObject
    weights: tuple[FloatArray, ...]


@dataclass(frozen=True)
class KerasModel:
    class_name: str
    layers: tuple[KerasLayer, ...]
    keras_version: str
    input_dtype: str


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_keras_h5(path: Path) -> KerasModel:
    import h5py

    if not path.is_file():
        raise PackagingError(f"model file {path} does not exist")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise PackagingError(f"{path.name} is not an HDF5 file: {exc}") from None
    with handle:
        if "model_config" not in handle.attrs:
            raise PackagingError(f"{path.name} is an HDF5 file but not a saved Keras model (no model_config)")
        try:
            config = json.loads(_text(handle.attrs["model_config"]))
        except ValueError as exc:
            raise PackagingError(f"{path.name}: model_config is not JSON: {exc}") from None
        class_name = str(config.get("class_name"))
        raw_layers = config.get("config", {})
        if isinstance(raw_layers, dict):
            raw_layers = raw_layers.get("layers", [])
        if not isinstance(raw_layers, list):
            raise PackagingError(f"{path.name}: cannot read the layer list of the {class_name} model")
        weights_group = handle.get("model_weights", handle)
        layers = []
        input_dtype = "float32"
        for raw in raw_layers:
            layer_config = dict(raw.get("config", {}))
            name = str(layer_config.get("name", ""))
            layer_class = str(raw.get("class_name"))
            if layer_class == "InputLayer":
                input_dtype = str(layer_config.get("dtype", input_dtype))
                continue
            arrays: list[FloatArray] = []
            if name in weights_group:
                group = weights_group[name]
                for weight_name in group.attrs.get("weight_names", []):
                    arrays.append(np.asarray(group[_text(weight_name)], dtype=np.float32))
            layers.append(KerasLayer(layer_class, name, layer_config, tuple(arrays)))
        return KerasModel(class_name, tuple(layers), _text(handle.attrs.get("keras_version", "unknown")), input_dtype)
