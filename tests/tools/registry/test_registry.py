"""The local registry: versions, immutability, hashes, bad input, concurrency with real processes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeship.errors import InvalidNameError, ModelNotFoundError, RegistryError, UnsafePathError
from edgeship.registry import Registry, parse_model_ref, parse_pairs


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.h5").write_bytes(b"h5" * 100)
    (folder / "tokenizer.pkl").write_bytes(b"tok")
    (folder / "encoder.pkl").write_bytes(b"enc")
    (folder / "sub" / "notes.txt").write_text("hello")
    return folder


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry.open(tmp_path / "reg")


def snapshot(registry: Registry) -> tuple[list[tuple[object, ...]], list[str]]:
    import sqlite3

    with sqlite3.connect(registry.db_path) as db:
        rows = db.execute("SELECT * FROM models ORDER BY name, version").fetchall()
    blobs = sorted(
        str(p.relative_to(registry.root))
        for p in registry.root.rglob("*")
        if p.is_file() and p.parent.parent.name == "sha256"
    )
    return rows, blobs


def test_register_assigns_versions_and_hashes(registry: Registry, model_dir: Path) -> None:
    first = registry.register(
        model_dir, "sentiment", description="d", tags={"stage": "dev"}, properties={"accuracy": "0.8"}
    )
    second = registry.register(model_dir, "sentiment")
    assert (first.ref, second.ref) == ("sentiment:1", "sentiment:2")
    assert [f.path for f in first.files] == ["encoder.pkl", "model.h5", "sub/notes.txt", "tokenizer.pkl"]
    assert first.files[1].sha256 == hashlib.sha256(b"h5" * 100).hexdigest()
    assert first.files[1].size == 200
    assert first.sha256 == second.sha256  # same content, same digest
    assert registry.get("sentiment").version == 2
    assert registry.get("sentiment", 1).tags == {"stage": "dev"}
    assert registry.get("sentiment", 1).properties == {"accuracy": "0.8"}
    # Content-addressed: identical files are stored once.
    assert len(snapshot(registry)[1]) == 4


def test_versions_are_immutable_after_source_changes(registry: Registry, model_dir: Path, tmp_path: Path) -> None:
    registry.register(model_dir, "sentiment")
    (model_dir / "model.h5").write_bytes(b"changed")
    registry.register(model_dir, "sentiment")
    out1 = registry.download("sentiment", 1, tmp_path / "v1")
    out2 = registry.download("sentiment", 2, tmp_path / "v2")
    assert (out1 / "model.h5").read_bytes() == b"h5" * 100
    assert (out2 / "model.h5").read_bytes() == b"changed"
    assert registry.get("sentiment", 1).sha256 != registry.get("sentiment", 2).sha256


def test_child_paths_and_single_file(registry: Registry, model_dir: Path) -> None:
    record = registry.register(model_dir, "partial", child_paths=["model.h5", "sub"])
    assert [f.path for f in record.files] == ["model.h5", "sub/notes.txt"]
    single = registry.register(model_dir / "model.h5", "single")
    assert [f.path for f in single.files] == ["model.h5"]


def test_delete_removes_only_unshared_blobs(registry: Registry, model_dir: Path) -> None:
    registry.register(model_dir, "a")
    (model_dir / "extra.bin").write_bytes(b"only in b")
    registry.register(model_dir, "b")
    registry.delete("b", 1)
    with pytest.raises(ModelNotFoundError):
        registry.get("b", 1)
    assert len(snapshot(registry)[1]) == 4
    assert registry.get("a").version == 1
    # Versions are never reused after a delete.
    assert registry.register(model_dir, "b").version == 2


@pytest.mark.parametrize("name", ["../x", "a/b", "", "-lead", "x..y", "has space", "a" * 300, ".hidden"])
def test_bad_names_refused_registry_untouched(registry: Registry, model_dir: Path, name: str) -> None:
    before = snapshot(registry)
    with pytest.raises(InvalidNameError):
        registry.register(model_dir, name)
    assert snapshot(registry) == before


@pytest.mark.parametrize("child", ["../outside.txt", "/etc/passwd", "sub/../../outside.txt"])
def test_escaping_child_paths_refused(registry: Registry, model_dir: Path, child: str) -> None:
    (model_dir.parent / "outside.txt").write_text("secret")
    before = snapshot(registry)
    with pytest.raises(UnsafePathError):
        registry.register(model_dir, "m", child_paths=[child])
    assert snapshot(registry) == before


def test_symlink_leading_outside_refused(registry: Registry, model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    (model_dir / "link.txt").symlink_to(tmp_path / "secret.txt")
    before = snapshot(registry)
    with pytest.raises(UnsafePathError, match="links outside"):
        registry.register(model_dir, "m")
    assert snapshot(registry) == before


def test_symlink_inside_is_followed(registry: Registry, model_dir: Path) -> None:
    (model_dir / "alias.h5").symlink_to(model_dir / "model.h5")
    record = registry.register(model_dir, "m")
    assert "alias.h5" in [f.path for f in record.files]


def test_missing_path_and_unknown_version(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="does not exist"):
        registry.register(tmp_path / "absent", "m")
    with pytest.raises(ModelNotFoundError, match="m:3"):
        registry.get("m", 3)


def test_download_refuses_a_tampered_escaping_path(registry: Registry, model_dir: Path, tmp_path: Path) -> None:
    import sqlite3

    record = registry.register(model_dir, "m")
    files = [["../../escape.txt", record.files[0].sha256, record.files[0].size]]
    with sqlite3.connect(registry.db_path) as db:
        db.execute("UPDATE models SET files = ? WHERE name = 'm'", (json.dumps(files),))
    with pytest.raises(UnsafePathError):
        registry.download("m", 1, tmp_path / "out" / "deep")
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "out").exists()


def test_model_refs_and_pairs() -> None:
    assert parse_model_ref("sentiment") == ("sentiment", None)
    assert parse_model_ref("sentiment:12") == ("sentiment", 12)
    for bad in ("sentiment:", "sentiment:0", "sentiment:x", "../a:1"):
        with pytest.raises(InvalidNameError):
            parse_model_ref(bad)
    assert parse_pairs(["a=1", "b=x=y"], "tag") == {"a": "1", "b": "x=y"}
    for bad_pairs in (["novalue"], ["=v"], ["a=1", "a=2"]):
        with pytest.raises(InvalidNameError):
            parse_pairs(bad_pairs, "tag")


def test_root_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGESHIP_HOME", str(tmp_path / "home"))
    assert Registry.open().root == tmp_path / "home"
    monkeypatch.delenv("EDGESHIP_HOME")
    monkeypatch.chdir(tmp_path)
    assert Registry.open().root == tmp_path / ".edgeship"
    assert Registry.open(tmp_path / "explicit").root == tmp_path / "explicit"


WORKER = """
import sys
from pathlib import Path
from edgeship.registry import Registry
registry = Registry.open(Path(sys.argv[1]))
for _ in range(int(sys.argv[3])):
    print(registry.register(Path(sys.argv[2]), "race").version, flush=True)
"""


@pytest.mark.integration
def test_concurrent_registrations_from_two_processes(registry: Registry, model_dir: Path) -> None:
    rounds = 15
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(registry.root), str(model_dir), str(rounds)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ},
        )
        for _ in range(2)
    ]
    versions: list[int] = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        versions.extend(int(line) for line in out.split())
    assert sorted(versions) == list(range(1, 2 * rounds + 1))
    assert [r.version for r in registry.list("race")] == list(range(1, 2 * rounds + 1))
    assert len({r.sha256 for r in registry.list("race")}) == 1


def test_linked_files_work_with_a_relative_registry_root(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    registry = Registry.open(Path("relative-reg"))
    record = registry.register(model_dir, "sentiment")
    with registry.linked_files(record) as files:
        assert files["model.h5"].read_bytes() == b"h5" * 100
        assert files["sub/notes.txt"].read_text() == "hello"
