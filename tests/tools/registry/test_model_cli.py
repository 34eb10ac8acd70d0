"""`edgeship model ...` through a real subprocess: output formats, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def edgeship(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGESHIP_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "edgeship", "model", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("model.h5", "model.w2v", "tokenizer.pkl", "encoder.pkl"):
        (folder / name).write_bytes(name.encode())
    return folder


def test_register_list_show_download_delete(tmp_path: Path, models: Path) -> None:
    home = tmp_path / "home"
    first = edgeship(
        home,
        "register",
        str(models),
        "--name",
        "sentiment",
        "--tag",
        "framework=keras",
        "--property",
        "accuracy=0.79",
        "--description",
        "seed model",
    )
    assert (first.returncode, first.stdout) == (0, "sentiment:1\n")
    assert (
        edgeship(home, "register", str(models), "-n", "sentiment", "--child-path", "model.h5").stdout == "sentiment:2\n"
    )
    listing = json.loads(edgeship(home, "list", "--json").stdout)
    assert [(m["name"], m["version"], len(m["files"])) for m in listing] == [("sentiment", 1, 4), ("sentiment", 2, 1)]
    shown = json.loads(edgeship(home, "show", "sentiment:1", "--json").stdout)
    assert shown["tags"] == {"framework": "keras"}
    assert shown["properties"] == {"accuracy": "0.79"}
    assert shown["description"] == "seed model"
    assert json.loads(edgeship(home, "show", "sentiment", "--json").stdout)["version"] == 2
    out = tmp_path / "out"
    assert edgeship(home, "download", "sentiment:1", "--out", str(out)).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["encoder.pkl", "model.h5", "model.w2v", "tokenizer.pkl"]
    assert edgeship(home, "delete", "sentiment:1").stdout == "deleted sentiment:1\n"
    assert "sentiment" in edgeship(home, "list").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("register", "{missing}", "--name", "m"), "does not exist"),
        (("register", "{models}", "--name", "../evil"), "invalid model name"),
        (("register", "{models}", "--name", "m", "--tag", "novalue"), "expected KEY=VALUE"),
        (("register", "{models}", "--name", "m", "--child-path", "../x"), "must stay inside"),
        (("show", "m:7"), "not registered"),
        (("delete", "m"), "explicit version"),
        (("show", "m:zero"), "invalid model version"),
    ],
)
def test_bad_input_is_one_line_exit_1(tmp_path: Path, models: Path, args: tuple[str, ...], message: str) -> None:
    home = tmp_path / "home"
    filled = [a.format(missing=tmp_path / "absent", models=models) for a in args]
    result = edgeship(home, *filled)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
