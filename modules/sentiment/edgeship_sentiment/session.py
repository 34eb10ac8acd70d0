"""The part of onnxruntime's ``InferenceSession`` the module uses, as a Protocol.

onnxruntime ships no type information; the scorer, the padding skip and the model checks are typed
against this instead (a test's fake session needs only these methods).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

Array: TypeAlias = npt.NDArray[np.generic]  # a feed or an output of any element type
DType: TypeAlias = np.dtype[np.generic]


class NodeArg(Protocol):
    """An input or output of the graph."""

    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> Sequence[int | str | None]: ...


class InferenceSession(Protocol):
    def run(self, output_names: Sequence[str], input_feed: Mapping[str, Array], /) -> Sequence[Array]: ...
    def get_inputs(self) -> Sequence[NodeArg]: ...
    def get_outputs(self) -> Sequence[NodeArg]: ...
    def get_overridable_initializers(self) -> Sequence[NodeArg]: ...


def runtime_errors() -> tuple[type[Exception], ...]:
    """What loading or running a graph can raise: onnxruntime's native exception types (pybind11
    classes deriving from ``Exception`` directly: ``InvalidProtobuf``, ``NoSuchFile``, ``Fail``, ...)
    and its Python wrapper's ``ValueError`` / ``RuntimeError`` / ``TypeError`` (a missing input, a
    wrong feed); ``OSError`` for the file itself."""
    from onnxruntime.capi import onnxruntime_pybind11_state as native

    found = tuple(kind for kind in vars(native).values() if isinstance(kind, type) and issubclass(kind, Exception))
    return (*found, ValueError, RuntimeError, TypeError, OSError)
