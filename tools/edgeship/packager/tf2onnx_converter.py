"""The tf2onnx converter, for any Keras model tf2onnx understands.

The model is loaded with tf_keras (Keras 2) and a copy with every dropout rate set to 0 is
converted: dropout does nothing at inference, and with ``recurrent_dropout > 0`` tf2onnx emits a
slow ``Loop`` instead of an ONNX ``LSTM`` op. Gates with ``hard_sigmoid`` still become a ``Loop``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgeship.errors import PackagingError

if TYPE_CHECKING:
    import onnx

OPSET = 17


@dataclass(frozen=True)
class Tf2onnxGraph:
    model: onnx.ModelProto
    input_name: str
    input_dtype: str
    output_name: str
    sequence_length: int | None
    versions: dict[str, str]


def _without_dropout(config: object) -> object:
    if isinstance(config, dict):
        cleaned: dict[str, object] = {}
        for key, value in config.items():
            if key in ("dropout", "recurrent_dropout", "rate") and isinstance(value, int | float):
                cleaned[key] = 0.0
            else:
                cleaned[key] = _without_dropout(value)
        return cleaned
    if isinstance(config, list):
        return [_without_dropout(item) for item in config]
    return config


def convert_tf2onnx(h5_path: Path) -> Tf2onnxGraph:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf2onnx
    import tf_keras

    try:
        original = tf_keras.models.load_model(h5_path, compile=False)
    # What Keras raises for an h5 it cannot read: h5py's OSError for the file, and ValueError, TypeError, KeyError
    # or AttributeError while it rebuilds a model config it does not understand.
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise PackagingError(f"tf_keras cannot load {h5_path.name}: {type(exc).__name__}: {exc}") from None
    inference = original.__class__.from_config(_without_dropout(original.get_config()))
    inference.set_weights(original.get_weights())
    input_shape = tuple(original.input_shape)
    dtype = original.inputs[0].dtype
    signature = (tf.TensorSpec((None, *input_shape[1:]), dtype, name="input_ids"),)
    model_proto, _ = tf2onnx.convert.from_keras(inference, input_signature=signature, opset=OPSET)
    import onnx

    return Tf2onnxGraph(
        model=model_proto,
        input_name=model_proto.graph.input[0].name,
        input_dtype=str(dtype.name),
        output_name=model_proto.graph.output[0].name,
        sequence_length=int(input_shape[1]) if len(input_shape) > 1 and input_shape[1] else None,
        versions={
            "tensorflow": tf.__version__,
            "tf_keras": tf_keras.__version__,
            "tf2onnx": tf2onnx.__version__,
            "onnx": onnx.__version__,
        },
    )
