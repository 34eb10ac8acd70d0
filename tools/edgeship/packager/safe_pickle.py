"""Reading ``tokenizer.pkl`` and ``encoder.pkl`` without trusting them.

``pickle.load`` imports whatever module a pickle names and calls whatever it asks: a hostile
``tokenizer.pkl`` can run ``os.system``, and even an honest one imports all of TensorFlow. This
unpickler resolves only an allow-list of globals. The Keras ``Tokenizer`` and the scikit-learn
``LabelEncoder`` are *not* imported: their names resolve to plain stand-in classes that just
receive the pickled state. numpy arrays are rebuilt with numpy's own reconstruction functions.
Any other global stops the load before anything runs.
"""

from __future__ import annotations

import copyreg
import io
import pickle
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from edgeship.errors import PackagingError, UnsafePickleError


class PickledTokenizer:
    """The state of a Keras ``Tokenizer`` (any Keras generation), without Keras."""

    __dict__: dict[str, Any]


class PickledLabelEncoder:
    """The state of a scikit-learn ``LabelEncoder``, without scikit-learn."""

    __dict__: dict[str, Any]


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


def _numpy_global(name: str) -> Any:
    from numpy._core import multiarray

    return getattr(multiarray, name)


ALLOWED: dict[tuple[str, str], Any] = {
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
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


def _codecs_encode(text: str, encoding: str = "utf-8") -> bytes:
    # Protocol 0 stores bytes as _codecs.encode(str, 'latin1'); only that use is honoured.
    if encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise UnsafePickleError(f"pickle asks for _codecs.encode with {encoding!r}")
    return text.encode(encoding)


ALLOWED[("_codecs", "encode")] = _codecs_encode
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    ALLOWED[(_module, "_reconstruct")] = None
    ALLOWED[(_module, "scalar")] = None


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key not in ALLOWED:
            raise UnsafePickleError(f"pickle names {module}.{name}, which is not allowed; nothing was run")
        value = ALLOWED[key]
        return _numpy_global(name) if value is None else value


def safe_load(path: Path, what: str) -> object:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PackagingError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path.name}: {exc}") from None
    except Exception as exc:  # a truncated or corrupt pickle surfaces as many exception types
        raise PackagingError(f"{path.name} is not a readable pickle: {type(exc).__name__}: {exc}") from None


def load_tokenizer_state(path: Path) -> dict[str, Any]:
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
