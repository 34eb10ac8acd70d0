"""Random and mutated pickles through the restricted unpickler, in a child process with a memory cap.

Run by test_badinput_pickles.py as ``python pickle_fuzz.py RANDOM MUTATED``: a pickle that
crashes the interpreter (exit by a signal) or asks for gigabytes (MemoryError under the cap)
must fail the test, not take the test runner down with it. Prints one JSON line of counts.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import types
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any

MEMORY_CAP = 2 * 1024**3


def valid_tokenizer_pickle() -> bytes:
    import pickle

    import numpy as np

    module = types.ModuleType("keras_preprocessing.text")
    cls = type("Tokenizer", (), {"__module__": "keras_preprocessing.text"})
    module.__dict__["Tokenizer"] = cls
    sys.modules.setdefault("keras_preprocessing", types.ModuleType("keras_preprocessing"))
    sys.modules["keras_preprocessing.text"] = module
    try:
        tokenizer = cls()
        tokenizer.__dict__.update(
            {
                "word_index": {"good": 1, "bad": 2},
                "word_counts": OrderedDict([("good", 3)]),
                "word_docs": defaultdict(int, {"good": 2}),
                "index_docs": np.array([1, 2]),
                "classes": np.array(["NEGATIVE", "POSITIVE"]),
                "num_words": np.int64(5),
                "filters": "!\t\n",
                "split": " ",
                "lower": True,
            }
        )
        return pickle.dumps(tokenizer, protocol=2)
    finally:
        del sys.modules["keras_preprocessing.text"]


def main(random_examples: int, mutated_examples: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from edgeship.errors import PackagingError
    from edgeship.packager.safe_pickle import load_label_classes, load_tokenizer_state, safe_load

    valid = valid_tokenizer_pickle()
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    folder = Path(tempfile.mkdtemp())
    path = folder / "fuzz.pkl"
    counts = {"inputs": 0, "loaded": 0, "refused": 0}
    loaders = (load_tokenizer_state, load_label_classes, lambda p: safe_load(p, "pickle"))

    def check(data: bytes) -> None:
        counts["inputs"] += 1
        path.write_bytes(data)
        for loader in loaders:
            try:
                loader(path)
            except PackagingError as exc:  # anything else escapes and fails the run
                message = str(exc)
                for sign in ("MemoryError", "SystemError", "Internal error", "Segmentation"):
                    assert sign not in message, (data, message)
                counts["refused"] += 1
            else:
                counts["loaded"] += 1

    common: dict[str, Any] = {"deadline": None, "suppress_health_check": list(HealthCheck), "database": None}

    @settings(max_examples=random_examples, **common)
    @given(
        data=st.one_of(
            st.binary(max_size=200),
            st.binary(max_size=60).map(lambda b: b"\x80\x04" + b),
            st.binary(max_size=60).map(lambda b: b"c" + b),
        )
    )
    def random_bytes(data: bytes) -> None:
        check(data)

    @settings(max_examples=mutated_examples, **common)
    @given(
        edits=st.lists(
            st.tuples(
                st.integers(0, len(valid) - 1),
                st.sampled_from(["flip", "insert", "delete", "cut"]),
                st.integers(0, 255),
            ),
            min_size=1,
            max_size=4,
        )
    )
    def mutated(edits: list[tuple[int, str, int]]) -> None:
        data = bytearray(valid)
        for position, kind, value in edits:
            position = min(position, len(data) - 1)
            if kind == "flip":
                data[position] = value
            elif kind == "insert":
                data.insert(position, value)
            elif kind == "delete" and len(data) > 1:
                del data[position]
            elif kind == "cut":
                del data[position:]
            if not data:
                data = bytearray(b".")
        check(bytes(data))

    path.write_bytes(valid)
    assert load_tokenizer_state(path)["word_index"] == {"good": 1, "bad": 2}  # the unmutated one loads
    random_bytes()
    mutated()
    print(json.dumps(counts))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
