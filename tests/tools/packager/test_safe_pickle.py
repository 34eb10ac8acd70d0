"""The restricted unpickler: the real files load without Keras; anything else is refused unrun."""

from __future__ import annotations

import os
import pickle
import sys
from collections import OrderedDict, defaultdict
from pathlib import Path

import numpy as np
import pytest

from edgeship.errors import PackagingError, UnsafePickleError
from edgeship.packager.safe_pickle import load_label_classes, load_tokenizer_state, safe_load
from tests.support.pickles import fake_class


class _Evil:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.target}",))


def test_malicious_pickle_is_refused_before_running(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    path = tmp_path / "tokenizer.pkl"
    path.write_bytes(pickle.dumps(_Evil(target), protocol=0))
    with pytest.raises(UnsafePickleError, match=r"posix\.system|os\.system"):
        load_tokenizer_state(path)
    assert not target.exists()


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_eval_and_exec_globals_refused(tmp_path: Path, protocol: int) -> None:
    class Sneaky:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (eval, ("__import__('os').getcwd()",))

    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(Sneaky(), protocol=protocol))
    with pytest.raises(UnsafePickleError, match=r"(__builtin__|builtins)\.eval"):
        safe_load(path, "tokenizer")


@pytest.mark.parametrize("protocol", [0, 2])
def test_keras_2_2_era_tokenizer_loads_without_keras(
    tmp_path: Path, protocol: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokenizer_cls = fake_class("keras_preprocessing.text", "Tokenizer", monkeypatch)
    tokenizer = tokenizer_cls()
    tokenizer.__dict__.update(
        {
            "word_counts": OrderedDict([("good", 3), ("bad", 2)]),
            "word_docs": defaultdict(int, {"good": 2}),
            "filters": "!\t\n",
            "split": " ",
            "lower": True,
            "num_words": None,
            "document_count": 3,
            "char_level": False,
            "oov_token": None,
            "index_docs": defaultdict(int, {1: 2}),
            "word_index": {"good": 1, "bad": 2},
            "index_word": {1: "good", 2: "bad"},
        }
    )
    path = tmp_path / "tokenizer.pkl"
    path.write_bytes(pickle.dumps(tokenizer, protocol=protocol))
    monkeypatch.delitem(sys.modules, "keras_preprocessing.text")  # loading must not need the module
    state = load_tokenizer_state(path)
    assert state["word_index"] == {"good": 1, "bad": 2}
    assert state["filters"] == "!\t\n"


def test_label_encoder_with_numpy_classes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    encoder_cls = fake_class("sklearn.preprocessing._label", "LabelEncoder", monkeypatch)
    encoder = encoder_cls()
    encoder.classes_ = np.array(["NEGATIVE", "POSITIVE"])
    encoder._sklearn_version = "0.22"
    path = tmp_path / "encoder.pkl"
    path.write_bytes(pickle.dumps(encoder, protocol=0))
    assert load_label_classes(path) == ["NEGATIVE", "POSITIVE"]


def test_wrong_classes_are_named(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.pkl"
    path.write_bytes(pickle.dumps({"word_index": {}}, protocol=0))
    with pytest.raises(PackagingError, match="holds a dict, expected a Keras Tokenizer"):
        load_tokenizer_state(path)
    with pytest.raises(PackagingError, match="expected a scikit-learn LabelEncoder"):
        load_label_classes(path)


def test_corrupt_and_missing_pickles(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.pkl"
    path.write_bytes(b"\x80\x04garbage")
    with pytest.raises(PackagingError, match="not a readable pickle"):
        load_tokenizer_state(path)
    with pytest.raises(PackagingError, match="cannot read"):
        load_tokenizer_state(tmp_path / "absent.pkl")
