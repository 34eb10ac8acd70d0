"""Reading ``tokenizer.pkl`` and ``encoder.pkl`` without trusting them.

``pickle.load`` imports whatever module a pickle names and calls whatever it asks: a hostile
``tokenizer.pkl`` can run ``os.system``, and even an honest one imports all of TensorFlow. This
unpickler resolves only an allow-list of globals. The Keras ``Tokenizer`` and the scikit-learn
``LabelEncoder`` are *not* imported: their names resolve to plain stand-in classes that just
receive the pickled state. numpy arrays are rebuilt with numpy's own reconstruction functions.
Every other global stops the load before anything runs.

numpy arrays, dtypes and scalars are *not* rebuilt by numpy from the pickle's state either: a
crafted ``ndarray.__setstate__`` / ``dtype.__setstate__`` state crashes the interpreter or
allocates without bound (found by fuzzing). Their globals resolve to stand-ins that keep the
state as data; after the load, each is checked (allowed dtype, shape, exact byte count, at most
``MAX_ARRAY_ITEMS``) and built with ``numpy.frombuffer``.
"""

from __future__ import annotations

import copyreg
import io
import math
import pickle
import pickletools
import re
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from edgeship.errors import PackagingError, UnsafePickleError


class PickledTokenizer:
    """The state of a Keras ``Tokenizer`` (any Keras generation), without Keras."""

    __dict__: dict[str, object]


class PickledLabelEncoder:
    """The state of a scikit-learn ``LabelEncoder``, without scikit-learn."""

    __dict__: dict[str, object]


TOKENIZER_MODULES = (
    "keras_preprocessing.text",
    "keras.preprocessing.text",
    "keras.src.preprocessing.text",
    "keras.src.legacy.preprocessing.text",
    "tf_keras.preprocessing.text",
    "tf_keras.src.preprocessing.text",
    "tensorflow.keras.preprocessing.text",
    "tensorflow.python.keras.preprocessing.text",
)
LABEL_ENCODER_MODULES = ("sklearn.preprocessing._label", "sklearn.preprocessing.label", "sklearn.preprocessing")


MAX_ARRAY_ITEMS = 1 << 24
_DTYPE_NAME = re.compile(r"b1|[iu][1248]|f[248]|c(8|16)|[US][1-9][0-9]{0,5}|O[48]?")


class PickledDtype:
    """``numpy.dtype(name, align, copy)`` and its BUILD state, as data until checked."""

    name: object = None
    state: object = None

    def __init__(self, name: object = None, *_: object) -> None:
        self.name = name

    def __setstate__(self, state: object) -> None:
        self.state = state


class PickledArray:
    """An ``ndarray`` as pickled: its BUILD state ``(version, shape, dtype, fortran, data)``, as data."""

    state: object = None

    def __setstate__(self, state: object) -> None:
        self.state = state


def _reconstruct(subtype: object, *_: object) -> PickledArray:
    if subtype is not PickledArray:
        raise UnsafePickleError("pickle asks numpy to rebuild something other than an ndarray")
    return PickledArray()


def _dtype(value: object) -> np.dtype[np.generic]:
    name = value.name if isinstance(value, PickledDtype) else None
    if not isinstance(name, str) or not _DTYPE_NAME.fullmatch(name):
        raise PackagingError(f"pickle holds a numpy dtype that is not allowed: {name!r}")
    dtype = np.dtype(name)
    state = value.state if isinstance(value, PickledDtype) else None
    if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">") and dtype.byteorder != "|":
        dtype = dtype.newbyteorder(state[1])
    return dtype


def _scalar(dtype: object, data: object = None) -> object:
    real = _dtype(dtype)
    if real.kind == "O":
        return data
    if not isinstance(data, bytes) or len(data) != real.itemsize:
        raise PackagingError("pickle holds a malformed numpy scalar")
    return np.frombuffer(data, dtype=real)[0]


def _array(value: PickledArray, seen: set[int]) -> npt.NDArray[np.generic]:
    state = value.state
    if not isinstance(state, tuple) or len(state) != 5:
        raise PackagingError("pickle holds a malformed numpy array")
    _, shape, dtype_value, fortran, data = state
    dtype = _dtype(dtype_value)
    if (
        not isinstance(shape, tuple)
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
        or not isinstance(fortran, bool)
    ):
        raise PackagingError("pickle holds a numpy array with a malformed shape")
    count = math.prod(shape)
    if count > MAX_ARRAY_ITEMS:
        raise PackagingError(f"pickle holds a numpy array of {count} items (at most {MAX_ARRAY_ITEMS})")
    order: Literal["C", "F"] = "F" if fortran else "C"
    dims = tuple(int(n) for n in shape)
    if dtype.kind == "O":
        if not isinstance(data, list) or len(data) != count:
            raise PackagingError("pickle holds a malformed numpy object array")
        array = np.empty(count, dtype=object)
        for index, item in enumerate(data):
            array[index] = _materialize(item, seen)
        return array.reshape(dims, order=order)
    if not isinstance(data, bytes) or len(data) != count * dtype.itemsize:
        raise PackagingError("pickle holds a numpy array whose data does not match its shape")
    flat: npt.NDArray[np.generic] = np.frombuffer(data, dtype=dtype)
    return flat.reshape(dims, order=order).copy(order="K")


def _materialize(value: object, seen: set[int]) -> object:
    """Replace the numpy stand-ins in a loaded object graph by checked numpy values (in place where possible)."""
    if isinstance(value, PickledArray):
        return _array(value, seen)
    if isinstance(value, PickledDtype):
        return _dtype(value)
    if isinstance(value, tuple):
        return tuple(_materialize(item, seen) for item in value)
    if id(value) in seen:
        return value
    if isinstance(value, dict):
        seen.add(id(value))
        for key in list(value):
            value[key] = _materialize(value[key], seen)
    elif isinstance(value, list):
        seen.add(id(value))
        for index, item in enumerate(value):
            value[index] = _materialize(item, seen)
    elif isinstance(value, PickledTokenizer | PickledLabelEncoder):
        seen.add(id(value))
        for key, item in list(vars(value).items()):
            vars(value)[key] = _materialize(item, seen)
    return value


ALLOWED: dict[tuple[str, str], object] = {
    **{(module, "Tokenizer"): PickledTokenizer for module in TOKENIZER_MODULES},
    **{(module, "LabelEncoder"): PickledLabelEncoder for module in LABEL_ENCODER_MODULES},
    # What protocol 0 (Python 2 names, as the notebook wrote them) and protocol 2+ record.
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,  # type: ignore[attr-defined]
    ("copyreg", "_reconstructor"): copyreg._reconstructor,  # type: ignore[attr-defined]
    ("copy_reg", "__newobj__"): copyreg.__newobj__,  # type: ignore[attr-defined]
    ("copyreg", "__newobj__"): copyreg.__newobj__,  # type: ignore[attr-defined]
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("__builtin__", "long"): int,
    ("__builtin__", "int"): int,
    ("builtins", "int"): int,
    ("__builtin__", "unicode"): str,
    ("collections", "OrderedDict"): OrderedDict,
    ("collections", "defaultdict"): defaultdict,
    ("_codecs", "encode"): None,  # filled below: bytes under protocol 0
    ("numpy", "ndarray"): PickledArray,
    ("numpy", "dtype"): PickledDtype,
}


def _codecs_encode(text: str, encoding: str = "utf-8") -> bytes:
    # Protocol 0 stores bytes as _codecs.encode(str, 'latin1'); only that use is honoured.
    if encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise UnsafePickleError(f"pickle asks for _codecs.encode with {encoding!r}")
    return text.encode(encoding)


ALLOWED[("_codecs", "encode")] = _codecs_encode
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    ALLOWED[(_module, "_reconstruct")] = _reconstruct
    ALLOWED[(_module, "scalar")] = _scalar


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        key = (module, name)
        if key not in ALLOWED:
            raise UnsafePickleError(f"pickle names {module}.{name}, which is not allowed; nothing was run")
        return ALLOWED[key]


def _prescan(data: bytes) -> None:
    """Walk the opcodes without running them: a truncated stream, a length past the end, or a memo
    index beyond the stream's own size (CPython's unpickler allocates a memo table that large: a
    10-byte pickle can ask for gigabytes) stops here."""
    for opcode, argument, _ in pickletools.genops(io.BytesIO(data)):
        if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and int(argument) >= len(data):  # type: ignore[arg-type]
            raise PackagingError(f"memo index {argument} is beyond the size of the pickle")


def safe_load(path: Path, what: str) -> object:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PackagingError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        _prescan(data)
        return _materialize(RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load(), set())
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path.name}: {exc}") from None
    # Broad on purpose: on corrupt bytes the C unpickler and the allowed constructors can raise almost any type
    # (tests/reliability's fuzz test feeds it random ones); each becomes one PackagingError naming it, none is
    # swallowed. (RUF100: BLE is not in the project's rule selection, `ruff check --select BLE` checks it.)
    except Exception as exc:  # noqa: BLE001 - untrusted input: every failure is reported as PackagingError
        raise PackagingError(f"{path.name} is not a readable pickle: {type(exc).__name__}: {exc}") from None


def load_tokenizer_state(path: Path) -> dict[str, object]:
    obj = safe_load(path, "tokenizer")
    if not isinstance(obj, PickledTokenizer):
        raise PackagingError(f"{path.name} holds a {type(obj).__name__}, expected a Keras Tokenizer")
    state = dict(vars(obj))
    word_index = state.get("word_index")
    if not isinstance(word_index, dict) or not all(
        isinstance(k, str) and isinstance(v, int) for k, v in word_index.items()
    ):
        raise PackagingError(f"{path.name}: the tokenizer has no valid word_index")
    if state.get("analyzer") is not None:
        raise PackagingError(f"{path.name}: tokenizers with a custom analyzer cannot be exported")
    return state


def load_label_classes(path: Path) -> list[str]:
    obj = safe_load(path, "encoder")
    if not isinstance(obj, PickledLabelEncoder):
        raise PackagingError(f"{path.name} holds a {type(obj).__name__}, expected a scikit-learn LabelEncoder")
    classes = vars(obj).get("classes_")
    if not isinstance(classes, np.ndarray) or classes.ndim != 1:
        raise PackagingError(f"{path.name}: the LabelEncoder has no fitted classes_")
    return [str(c) for c in classes.tolist()]
