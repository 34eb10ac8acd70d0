"""Malicious and broken pickles: refused before anything in them runs (a marker file must not appear).

The packager reads ``tokenizer.pkl`` and ``encoder.pkl`` with ``edgeship.packager.safe_pickle``
(an allow-list unpickler). Every payload below would create the marker file if any of its code
ran: through ``__reduce__`` (pickle protocols 0-5), through hand-written GLOBAL / STACK_GLOBAL /
INST / OBJ opcodes, and hidden inside an otherwise legitimate Keras tokenizer. Random and mutated
pickles may only give ``PackagingError`` (in a child process with a memory cap). Two CLI runs
(``edgeship package``) show the user's view.
"""

from __future__ import annotations

import builtins
import functools
import io
import json
import os
import pickle
import subprocess
import sys
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeship.errors import UnsafePickleError
from edgeship.packager.safe_pickle import load_label_classes, load_tokenizer_state, safe_load
from tests.support.badinput import EDGESHIP
from tests.support.pickles import fake_class

PICKLE_FUZZ = Path(__file__).resolve().parents[1] / "support" / "programs" / "pickle_fuzz.py"
RANDOM = 3000  # hypothesis examples: random bytes as a pickle (in tests/support/programs/pickle_fuzz.py)
MUTATED = 3000  # ... a valid tokenizer pickle (numpy arrays, scalars) with bytes flipped, inserted or cut
PROTOCOLS = list(range(pickle.HIGHEST_PROTOCOL + 1))


class Reducer:
    """Pickles as ``function(*args)``: what an attacker's pickle asks the loader to call."""

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return self.function, self.args


def reducers(marker: Path) -> dict[str, Any]:
    """Each of these, if called, creates ``marker``."""
    touch = f"touch {marker}"
    code = f"open({str(marker)!r}, 'w').close()"
    return {
        "os.system": Reducer(os.system, touch),
        "subprocess.Popen": Reducer(subprocess.Popen, ["touch", str(marker)]),
        "subprocess.run": Reducer(subprocess.run, ["touch", str(marker)]),
        "subprocess.check_output": Reducer(subprocess.check_output, ["touch", str(marker)]),
        "builtins.eval": Reducer(eval, code),
        "builtins.exec": Reducer(exec, code),
        "builtins.open": Reducer(builtins.open, str(marker), "w"),
        "io.open": Reducer(io.open, str(marker), "w"),
        "os.mkdir": Reducer(os.mkdir, str(marker)),
        "functools.partial": Reducer(functools.partial(os.system, touch)),
        "pickle.loads (nested)": Reducer(pickle.loads, pickle.dumps(Reducer(os.system, touch))),
        "compile then exec": Reducer(exec, Reducer(compile, code, "x", "exec")),
    }


REDUCER_NAMES = sorted(reducers(Path("/nonexistent")))


def handwritten(marker: Path) -> dict[str, bytes]:
    """Opcode streams pickle.dumps would not write, each calling os.system or builtins.exec."""
    command = f"touch {marker}".encode()
    code = f"open({str(marker)!r}, 'w').close()".encode()
    return {
        "GLOBAL + REDUCE": b"cos\nsystem\n(S'" + command + b"'\ntR.",
        "INST": b"(S'" + command + b"'\nios\nsystem\n.",
        "OBJ": b"(cos\nsystem\nS'" + command + b"'\no.",
        "STACK_GLOBAL": b"\x80\x04\x8c\x02os\x8c\x06system\x93\x8c" + bytes([len(command)]) + command + b"\x85R.",
        "builtins.getattr chain": (
            b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR(S'" + command + b"'\ntR."
        ),
        "exec via __builtin__": b"c__builtin__\nexec\n(S'" + code + b"'\ntR.",
        "reconstructor with os.system": b"ccopy_reg\n_reconstructor\n(cos\nsystem\nc__builtin__\nobject\nNtR.",
        "BUILD calling __setstate__ of a forbidden class": b"csubprocess\nPopen\n)R}b.",
    }


HANDWRITTEN_NAMES = sorted(handwritten(Path("/nonexistent")))
LOADERS: dict[str, Callable[[Path], object]] = {
    "tokenizer": load_tokenizer_state,
    "encoder": load_label_classes,
    "any": lambda p: safe_load(p, "pickle"),
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("name", REDUCER_NAMES)
def test_reduce_payloads_are_refused_unrun(tmp_path: Path, name: str, protocol: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "tokenizer.pkl"
    path.write_bytes(pickle.dumps(reducers(marker)[name], protocol=protocol))
    for loader in LOADERS.values():
        with pytest.raises(UnsafePickleError, match="which is not allowed; nothing was run"):
            loader(path)
    assert not marker.exists()


@pytest.mark.parametrize("name", HANDWRITTEN_NAMES)
def test_handwritten_opcode_payloads_are_refused_unrun(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "encoder.pkl"
    payload = handwritten(marker)[name]
    for loader in LOADERS.values():
        path.write_bytes(payload)
        with pytest.raises(UnsafePickleError, match="not allowed"):
            loader(path)
    assert not marker.exists()
    # The same bytes run by the standard unpickler do create the marker: the payloads are real.
    if name in ("GLOBAL + REDUCE", "INST", "OBJ", "STACK_GLOBAL"):
        pickle.loads(payload)  # deliberately: the standard unpickler runs it
        assert marker.exists()


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "where",
    [
        "word_index value",
        "word_counts item",
        "defaultdict factory",
        "numpy object array",
        "label classes",
        "attribute of the tokenizer",
    ],
)
def test_payload_nested_inside_a_legitimate_tokenizer_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, protocol: int
) -> None:
    marker = tmp_path / "pwned"
    evil = Reducer(os.system, f"touch {marker}")
    if where == "label classes":
        owner = fake_class("sklearn.preprocessing._label", "LabelEncoder", monkeypatch)()
        owner.classes_ = np.array(["NEGATIVE", evil], dtype=object)
        loader: Callable[[Path], object] = load_label_classes
    else:
        owner = fake_class("keras_preprocessing.text", "Tokenizer", monkeypatch)()
        owner.__dict__.update(
            {
                "word_index": {"good": 1},
                "word_counts": OrderedDict([("good", 3)]),
                "word_docs": defaultdict(int),
                "filters": "",
                "split": " ",
                "lower": True,
            }
        )
        if where == "word_index value":
            owner.word_index = {"good": 1, "bad": evil}
        elif where == "word_counts item":
            owner.word_counts = OrderedDict([("good", 3), ("evil", evil)])
        elif where == "defaultdict factory":
            owner.word_docs = defaultdict(functools.partial(os.system, f"touch {marker}"))
        elif where == "numpy object array":
            owner.index_docs = np.array([1, evil], dtype=object)
        else:
            owner.analyzer = evil
        loader = load_tokenizer_state
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(owner, protocol=protocol))
    monkeypatch.undo()  # loading must not need (or find) the stand-in classes
    with pytest.raises(UnsafePickleError, match="not allowed"):
        loader(path)
    assert not marker.exists()


@pytest.mark.integration
def test_random_and_mutated_pickles_give_only_packaging_errors() -> None:
    """In a child process with a 2 GB cap: a crash or a runaway allocation fails here instead of killing pytest.

    Before the fix, mutated numpy state crashed the interpreter (SIGSEGV) and a memo index in a
    10-byte pickle had CPython allocate a memo table of tens of gigabytes (the OOM killer ended
    the test run)."""
    result = subprocess.run(
        [sys.executable, str(PICKLE_FUZZ), str(RANDOM), str(MUTATED)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-3000:])
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["inputs"] >= RANDOM + MUTATED
    assert counts["refused"] > 0


@pytest.mark.integration
@pytest.mark.parametrize("source", ["--from-dir", "registry"])
def test_edgeship_package_refuses_a_malicious_tokenizer(tmp_path: Path, source: str) -> None:
    marker = tmp_path / "pwned"
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.h5").write_bytes(b"not read: the pickles are checked first")
    (model / "tokenizer.pkl").write_bytes(pickle.dumps(Reducer(os.system, f"touch {marker}"), protocol=0))
    (model / "encoder.pkl").write_bytes(pickle.dumps(["NEGATIVE", "POSITIVE"]))
    out = tmp_path / "out"
    env = {**os.environ, "EDGESHIP_HOME": str(tmp_path / "reg")}
    if source == "registry":
        registered = subprocess.run(
            [str(EDGESHIP), "model", "register", str(model), "--name", "evil"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert registered.stdout == "evil:1\n", registered.stderr
        args = ["evil:1"]
    else:
        args = ["--from-dir", str(model)]
    result = subprocess.run(
        [str(EDGESHIP), "package", *args, "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "posix.system" in errors[0]
    assert "nothing was run" in errors[0]
    assert not marker.exists()
    assert not out.exists()
