"""The registry with hostile names, paths and links: refused, and nothing written outside it.

The registry takes no archives (``register`` reads a folder or a file, ``download`` writes a
folder; ``edgeship package`` reads registered files), so the "zip slip" of the issue is tested as
what the registry does take: names, ``--child-path`` values, folders with symlinks that escape,
``--out`` folders with symlinks that escape, and a tampered database. Each test snapshots the
whole temporary tree (outside the registry root) before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeship.errors import EdgeshipError, InvalidNameError, RegistryError, UnsafePathError
from edgeship.registry import Registry, parse_model_ref
from tests.support.badinput import EDGESHIP

NAMES = 400  # hypothesis examples: hostile model names through the API
CHILD_PATHS = 300  # hostile --child-path lists
SETTINGS: dict[str, Any] = {"deadline": None, "suppress_health_check": list(HealthCheck)}


def tree(root: Path, skip: Path | None = None) -> dict[str, str]:
    """Every path under ``root`` (not following links) -> what it is; ``skip`` (a registry root) left out."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        directory = Path(dirpath)
        if skip is not None and (directory == skip or skip in directory.parents):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = directory / name
            if path == skip:
                continue
            if path.is_symlink():
                found[str(path.relative_to(root))] = f"link -> {os.readlink(path)}"
            elif path.is_file():
                found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[str(path.relative_to(root))] = "dir"
    return found


def rows(registry: Registry) -> list[tuple[object, ...]]:
    with sqlite3.connect(registry.db_path) as db:
        return db.execute("SELECT name, version, files FROM models ORDER BY name, version").fetchall()


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a model folder, a secret beside it, and the registry."""
    root = tmp_path_factory.mktemp("area")
    model = root / "model"
    (model / "sub").mkdir(parents=True)
    (model / "model.h5").write_bytes(b"h5")
    (model / "tokenizer.pkl").write_bytes(b"tok")
    (model / "sub" / "notes.txt").write_text("notes")
    (root / "secret.txt").write_text("secret")
    Registry.open(root / "reg").register(model, "existing")
    return root


DANGER = st.sampled_from(
    ["..", "/", "\\", "\x00", "/etc/passwd", "../../", "~", "-", ".", " ", "\n", ":", "*", "é", "%2e%2e", "a" * 256]
)
VALID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # the documented rule (tools/README.md), not the code's


def is_valid_name(name: str) -> bool:
    return bool(VALID_NAME.fullmatch(name)) and len(name) <= 255 and ".." not in name


hostile_names = st.builds(
    lambda head, danger, tail: head + danger + tail, st.text("ab.-_", max_size=4), DANGER, st.text("ab./", max_size=4)
).filter(lambda name: not is_valid_name(name))


@settings(max_examples=NAMES, **SETTINGS)
@given(name=hostile_names)
def test_hostile_names_are_refused_everywhere_and_nothing_is_written(area: Path, name: str) -> None:
    registry = Registry.open(area / "reg")
    outside, before = tree(area, skip=area / "reg"), rows(registry)
    with pytest.raises(InvalidNameError):
        registry.register(area / "model", name)
    with pytest.raises(InvalidNameError):
        registry.get(name)
    with pytest.raises(InvalidNameError):
        registry.list(name)
    with pytest.raises(InvalidNameError):
        registry.delete(name, 1)
    with pytest.raises(InvalidNameError):
        registry.download(name, 1, area / "out")
    with pytest.raises(InvalidNameError):
        parse_model_ref(f"{name}:1")
    assert tree(area, skip=area / "reg") == outside
    assert rows(registry) == before


def cli(area: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EDGESHIP), "model", *args, "--registry", str(area / "reg")],
        cwd=area,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")


CLI_NAMES = ["../escape", "a/b", "/etc/passwd", "..", "x/../../y", "name\\..\\up"]


@pytest.mark.integration
@pytest.mark.parametrize("name", CLI_NAMES)
def test_cli_refuses_hostile_names_with_one_error_line(area: Path, name: str) -> None:
    outside = tree(area, skip=area / "reg")
    for args in (
        ["register", str(area / "model"), "--name", name],
        ["show", name],
        ["show", f"{name}:1"],
        ["download", f"{name}:1", "--out", str(area / "out")],
        ["delete", f"{name}:1"],
    ):
        assert_one_error_line(cli(area, *args))
    assert tree(area, skip=area / "reg") == outside


components = st.sampled_from(
    ["..", ".", "", "sub", "model.h5", "notes.txt", "secret.txt", "x", "~", "\\", "\x00", "/etc", "model"]
)
child_path = st.lists(components, min_size=1, max_size=5).map("/".join)


@settings(max_examples=CHILD_PATHS, **SETTINGS)
@given(children=st.lists(child_path, min_size=1, max_size=3))
def test_child_paths_stay_inside_or_are_refused(area: Path, children: list[str]) -> None:
    registry = Registry.open(area / "reg")
    outside, before = tree(area, skip=area / "reg"), rows(registry)
    try:
        record = registry.register(area / "model", "kids", child_paths=children)
    except RegistryError:
        assert rows(registry) == before
    else:
        # Whatever was taken is a file of the model folder, stored under its path inside the folder.
        inside = {str(p.relative_to(area / "model")) for p in (area / "model").rglob("*") if p.is_file()}
        assert {f.path for f in record.files} <= inside
        for entry in record.files:
            assert hashlib.sha256((area / "model" / entry.path).read_bytes()).hexdigest() == entry.sha256
        registry.delete("kids", record.version)
    assert tree(area, skip=area / "reg") == outside


def link_cases(base: Path) -> dict[str, list[tuple[str, str]]]:
    """Name -> symlinks (path in the model folder, target) that lead out of it (or nowhere)."""
    return {
        "file outside": [("leak.txt", str(base / "secret.txt"))],
        "relative file outside": [("leak.txt", "../secret.txt")],
        "absolute system file": [("passwd", "/etc/passwd")],
        "device": [("zero", "/dev/zero")],
        "folder outside": [("up", str(base))],
        "folder dot-dot": [("up", "..")],
        "chain leading out": [("one", "two"), ("two", "../secret.txt")],
        "dangling": [("gone", str(base / "does-not-exist"))],
        "loop to itself": [("loop", "loop")],
        "loop of two": [("ping", "pong"), ("pong", "ping")],
        "nested folder outside": [("sub/deeper", "../../")],
    }


CASES = sorted(link_cases(Path("/")))


def make_model(base: Path, links: list[tuple[str, str]]) -> Path:
    model = base / "linked"
    (model / "sub").mkdir(parents=True)
    (model / "model.h5").write_bytes(b"h5")
    for path, target in links:
        (model / path).symlink_to(target)
    return model


@pytest.mark.parametrize("case", CASES)
def test_links_leading_out_of_the_model_folder_are_refused(tmp_path: Path, case: str) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    model = make_model(tmp_path, link_cases(tmp_path)[case])
    registry = Registry.open(tmp_path / "reg")
    outside = tree(tmp_path, skip=tmp_path / "reg")
    with pytest.raises(RegistryError, match=r"links outside|leads outside|does not exist"):
        registry.register(model, "linked")
    link = link_cases(tmp_path)[case][0][0]
    with pytest.raises(RegistryError):
        registry.register(model, "linked", child_paths=[link])
    assert rows(registry) == []
    assert not registry.blob_root.exists() or not any(registry.blob_root.rglob("*"))
    assert tree(tmp_path, skip=tmp_path / "reg") == outside


@pytest.mark.integration
@pytest.mark.parametrize("case", ["loop to itself", "folder outside", "dangling"])
def test_cli_refuses_escaping_links_with_one_error_line(tmp_path: Path, case: str) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    model = make_model(tmp_path, link_cases(tmp_path)[case])
    outside = tree(tmp_path, skip=tmp_path / "reg")
    assert_one_error_line(cli(tmp_path, "register", str(model), "--name", "linked"))
    assert tree(tmp_path, skip=tmp_path / "reg") == outside


@pytest.mark.parametrize("layout", ["folder link", "dangling folder link", "file link", "deep folder link"])
def test_download_never_writes_through_links_in_the_out_folder(tmp_path: Path, layout: str) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "sub" / "notes.txt").write_text("notes")
    (model / "sub" / "deep").mkdir()
    (model / "sub" / "deep" / "x.txt").write_text("x")
    registry = Registry.open(tmp_path / "reg")
    registry.register(model, "m")
    victim = tmp_path / "victim"
    victim.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    if layout == "folder link":
        (out / "sub").symlink_to(victim)
    elif layout == "dangling folder link":
        (out / "sub").symlink_to(victim / "new")
    elif layout == "file link":
        (out / "sub").mkdir()
        (out / "sub" / "notes.txt").symlink_to(victim / "notes.txt")
    else:
        (out / "sub").mkdir()
        (out / "sub" / "deep").symlink_to(victim)
    everything = tree(tmp_path, skip=tmp_path / "reg")
    with pytest.raises(RegistryError, match=r"outside|symlink"):
        registry.download("m", 1, out)
    assert list(victim.iterdir()) == []
    assert tree(tmp_path, skip=tmp_path / "reg") == everything  # refused before anything was written


def test_a_tampered_database_cannot_make_the_registry_touch_files_outside(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.h5").write_bytes(b"h5")
    registry = Registry.open(tmp_path / "reg")
    record = registry.register(model, "m")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    relative = os.path.relpath(victim, registry.blob_root / "xx")
    with sqlite3.connect(registry.db_path) as db:
        db.execute("UPDATE models SET files = ? WHERE name = 'm'", (json.dumps([["model.h5", relative, 7]]),))
    with pytest.raises(RegistryError, match="not a sha256 digest"):
        registry.download("m", 1, tmp_path / "out")
    with pytest.raises(RegistryError, match="not a sha256 digest"):
        registry.delete("m", 1)
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "out" / "model.h5").exists()
    assert record.files[0].sha256 != relative


def test_every_refusal_is_an_edgeship_error() -> None:
    # The CLI prints EdgeshipError as one line; anything else would be a traceback.
    for error in (InvalidNameError, UnsafePathError, RegistryError):
        assert issubclass(error, EdgeshipError)
