"""The direct converter: Keras h5 weights -> an ONNX graph built with the ``onnx`` library.

For the Sequential text models this project ships (Embedding -> [Dropout] -> LSTM | GRU ->
[Dropout] -> Dense), it needs no TensorFlow, converts a 290k-word model in seconds, and always
emits one ONNX ``LSTM`` (or ``GRU``) op, never tf2onnx's ``Loop``. Keras 2's ``hard_sigmoid`` is
``clip(0.2 x + 0.5, 0, 1)``, which is ONNX ``HardSigmoid(alpha=0.2, beta=0.5)`` exactly.

The graph's ``initial_h`` / ``initial_c`` are optional inputs (zero by default, any batch size
broadcast) and its final state is an output (``final_h`` / ``final_c``), so a runtime can carry
the recurrence across calls and start it from a precomputed state: the padding skip (see
``edgeship_sentiment.padskip``). Anything else is refused with an error that names the layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeship.errors import UnsupportedModelError
from edgeship.packager.keras_h5 import FloatArray, KerasLayer, KerasModel

if TYPE_CHECKING:
    import onnx

OPSET = 17
INPUT_NAME = "input_ids"
OUTPUT_NAME = "score"
INITIAL_H = "initial_h"
INITIAL_C = "initial_c"
FINAL_H = "final_h"
FINAL_C = "final_c"

# Keras activation -> (ONNX activation name, alpha, beta)
RECURRENT_ACTIVATIONS: dict[str, tuple[str, float | None, float | None]] = {
    "sigmoid": ("Sigmoid", None, None),
    "hard_sigmoid": ("HardSigmoid", 0.2, 0.5),
    "tanh": ("Tanh", None, None),
    "relu": ("Relu", None, None),
}
DENSE_ACTIVATIONS = {"sigmoid": "Sigmoid", "linear": None, "tanh": "Tanh", "relu": "Relu", "softmax": "Softmax"}


@dataclass(frozen=True)
class DirectGraph:
    model: onnx.ModelProto
    hidden_size: int
    cell: str  # "LSTM" or "GRU"
    sequence_length: int | None


def _unsupported(layer: KerasLayer, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"layer '{layer.name}' ({layer.class_name}) {why}; the direct converter cannot handle it "
        "(try --converter tf2onnx)"
    )


def _check_sequence(model: KerasModel) -> tuple[KerasLayer, KerasLayer, KerasLayer]:
    if model.class_name != "Sequential":
        raise UnsupportedModelError(f"the direct converter handles Sequential models, not {model.class_name}")
    core = [layer for layer in model.layers if layer.class_name != "Dropout"]
    for layer in model.layers:
        if layer.class_name not in ("Embedding", "Dropout", "LSTM", "GRU", "Dense"):
            raise _unsupported(layer, "is not a supported layer type")
    kinds = [layer.class_name for layer in core]
    if len(core) != 3 or kinds[0] != "Embedding" or kinds[1] not in ("LSTM", "GRU") or kinds[2] != "Dense":
        raise UnsupportedModelError(
            f"the direct converter expects Embedding -> LSTM|GRU -> Dense (Dropout anywhere), got {' -> '.join(kinds)}"
        )
    return core[0], core[1], core[2]


def _int_setting(layer: KerasLayer, key: str) -> int:
    value = layer.config.get(key)
    if not isinstance(value, int | float | str):
        raise _unsupported(layer, f"has no numeric {key!r} in its config")
    return int(value)


def _activation(layer: KerasLayer, key: str, default: str) -> tuple[str, float | None, float | None]:
    name = str(layer.config.get(key, default))
    if name not in RECURRENT_ACTIVATIONS:
        raise _unsupported(layer, f"uses {key} {name!r}")
    return RECURRENT_ACTIVATIONS[name]


def _reorder_gates(matrix: FloatArray, hidden: int, order: tuple[int, ...]) -> FloatArray:
    blocks = [matrix[..., i * hidden : (i + 1) * hidden] for i in range(len(order))]
    return np.concatenate([blocks[i] for i in order], axis=-1)


def convert_direct(model: KerasModel) -> DirectGraph:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    embedding, recurrent, dense = _check_sequence(model)
    if embedding.config.get("mask_zero"):
        raise _unsupported(embedding, "uses mask_zero=True")
    if len(embedding.weights) != 1:
        raise _unsupported(embedding, "has no stored embedding matrix")
    for flag in ("return_sequences", "go_backwards", "stateful", "return_state"):
        if recurrent.config.get(flag):
            raise _unsupported(recurrent, f"sets {flag}")
    hidden = _int_setting(recurrent, "units")
    use_bias = bool(recurrent.config.get("use_bias", True))
    f_act = _activation(recurrent, "recurrent_activation", "sigmoid")
    g_act = _activation(recurrent, "activation", "tanh")
    cell = recurrent.class_name
    kernel, recurrent_kernel = recurrent.weights[0], recurrent.weights[1]
    input_size = kernel.shape[0]
    if embedding.weights[0].shape[1] != input_size:
        given = embedding.weights[0].shape[1]
        raise _unsupported(recurrent, f"expects {input_size} inputs but the embedding gives {given}")

    initializers = [numpy_helper.from_array(embedding.weights[0].astype(np.float32), "embedding.weight")]
    nodes = [
        helper.make_node("Gather", ["embedding.weight", INPUT_NAME], ["embedded"], axis=0),
        helper.make_node("Transpose", ["embedded"], ["time_major"], perm=[1, 0, 2]),
        helper.make_node("Shape", [INPUT_NAME], ["input_shape"]),
        helper.make_node("Slice", ["input_shape", "zero_1d", "one_1d"], ["batch_1d"]),
        helper.make_node("Concat", ["one_1d", "batch_1d", "hidden_1d"], ["state_shape"], axis=0),
    ]
    initializers += [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero_1d"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one_1d"),
        numpy_helper.from_array(np.array([hidden], dtype=np.int64), "hidden_1d"),
    ]
    activations = [f_act, g_act] if cell == "GRU" else [f_act, g_act, g_act]
    attributes: dict[str, Any] = {  # make_node's **kwargs: a narrower value type clashes with its name=
        "hidden_size": hidden,
        "direction": "forward",
        "activations": [a[0] for a in activations],
    }
    # onnxruntime reads alpha/beta positionally, one per activation; ONNX defaults where unused.
    if any(a[1] is not None for a in activations):
        attributes["activation_alpha"] = [a[1] if a[1] is not None else 0.0 for a in activations]
        attributes["activation_beta"] = [a[2] if a[2] is not None else 0.0 for a in activations]

    state_inputs = [INITIAL_H] if cell == "GRU" else [INITIAL_H, INITIAL_C]
    for name in state_inputs:
        initializers.append(numpy_helper.from_array(np.zeros((1, 1, hidden), dtype=np.float32), name))
        nodes.append(helper.make_node("Expand", [name, "state_shape"], [f"{name}_batch"]))

    if cell == "LSTM":
        order = (0, 3, 1, 2)  # Keras i, f, c, o -> ONNX i, o, f, c
        w = _reorder_gates(kernel, hidden, order).T[np.newaxis]
        r = _reorder_gates(recurrent_kernel, hidden, order).T[np.newaxis]
        bias = recurrent.weights[2] if use_bias else np.zeros(4 * hidden, dtype=np.float32)
        b = np.concatenate([_reorder_gates(bias, hidden, order), np.zeros(4 * hidden, dtype=np.float32)])[np.newaxis]
        nodes.append(
            helper.make_node(
                "LSTM",
                ["time_major", "W", "R", "B", "", f"{INITIAL_H}_batch", f"{INITIAL_C}_batch"],
                ["", FINAL_H, FINAL_C],
                **attributes,
            )
        )
    else:
        # Keras GRU gates z, r, h match ONNX's order; reset_after=True is linear_before_reset=1.
        reset_after = bool(recurrent.config.get("reset_after", True))
        w = kernel.T[np.newaxis]
        r = recurrent_kernel.T[np.newaxis]
        if not use_bias:
            b = np.zeros((1, 6 * hidden), dtype=np.float32)
        elif reset_after:
            stored = recurrent.weights[2].reshape(2, 3 * hidden)
            b = np.concatenate([stored[0], stored[1]])[np.newaxis]
        else:
            b = np.concatenate([recurrent.weights[2].reshape(-1), np.zeros(3 * hidden, dtype=np.float32)])[np.newaxis]
        attributes["linear_before_reset"] = 1 if reset_after else 0
        nodes.append(
            helper.make_node(
                "GRU", ["time_major", "W", "R", "B", "", f"{INITIAL_H}_batch"], ["", FINAL_H], **attributes
            )
        )
    initializers += [
        numpy_helper.from_array(w.astype(np.float32), "W"),
        numpy_helper.from_array(r.astype(np.float32), "R"),
        numpy_helper.from_array(b.astype(np.float32), "B"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
    ]
    nodes.append(helper.make_node("Squeeze", [FINAL_H, "axis0"], ["last_hidden"]))

    dense_kernel = dense.weights[0]
    dense_bias = dense.weights[1] if dense.config.get("use_bias", True) else np.zeros(dense_kernel.shape[1], np.float32)
    if dense_kernel.shape[0] != hidden:
        raise _unsupported(dense, f"expects {dense_kernel.shape[0]} inputs but the recurrent layer gives {hidden}")
    activation = str(dense.config.get("activation", "linear"))
    if activation not in DENSE_ACTIVATIONS:
        raise _unsupported(dense, f"uses activation {activation!r}")
    initializers += [
        numpy_helper.from_array(dense_kernel.astype(np.float32), "dense.weight"),
        numpy_helper.from_array(dense_bias.astype(np.float32), "dense.bias"),
    ]
    onnx_activation = DENSE_ACTIVATIONS[activation]
    dense_out = "dense_linear" if onnx_activation else OUTPUT_NAME
    nodes.append(helper.make_node("Gemm", ["last_hidden", "dense.weight", "dense.bias"], [dense_out]))
    if onnx_activation:
        if onnx_activation == "Softmax":
            nodes.append(helper.make_node(onnx_activation, [dense_out], [OUTPUT_NAME], axis=-1))
        else:
            nodes.append(helper.make_node(onnx_activation, [dense_out], [OUTPUT_NAME]))

    sequence_length = embedding.config.get("input_length")
    inputs = [
        helper.make_tensor_value_info(INPUT_NAME, TensorProto.INT64, ["batch", "sequence"]),
        *[helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, "state_batch", hidden]) for name in state_inputs],
    ]
    final_states = [FINAL_H] if cell == "GRU" else [FINAL_H, FINAL_C]
    outputs = [
        helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", int(dense_kernel.shape[1])]),
        *[helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, "batch", hidden]) for name in final_states],
    ]
    graph = helper.make_graph(nodes, "edgeship_direct", inputs, outputs, initializers)
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgeship-direct"
    )
    onnx_model.ir_version = 8
    onnx.checker.check_model(onnx_model)
    if not isinstance(sequence_length, int | float | str) or not sequence_length:  # null: any length
        return DirectGraph(onnx_model, hidden, cell, None)
    return DirectGraph(onnx_model, hidden, cell, int(sequence_length))
