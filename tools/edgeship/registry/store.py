"""The registry: SQLite rows for metadata, content-addressed blobs for files.

Layout under the registry root::

    registry.db                  name, version, metadata, file list (SQLite, WAL)
    blobs/sha256/ab/abcdef...    one file per distinct content, written once, never changed

Blobs are written (temp file + rename) before the row that names them commits, so a crash
leaves at worst an unreferenced blob, never a row without its files. Versions are allocated
inside a ``BEGIN IMMEDIATE`` transaction, so concurrent registrations get distinct versions.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import socket
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from edgeship._time import utc_timestamp
from edgeship.errors import ModelNotFoundError, RegistryError, UnsafePathError
from edgeship.jsontypes import JSONObject
from edgeship.registry.content import collect_files, content_sha256, file_sha256, safe_relative_path
from edgeship.registry.names import validate_name

_SHA256 = re.compile(r"[0-9a-f]{64}")
SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    description TEXT,
    tags TEXT NOT NULL,
    properties TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    files TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, last_version INTEGER NOT NULL);
"""
# One row of `models`, in column order: name, version, description, tags, properties (JSON objects), sha256,
# files (a JSON list of [path, sha256, size]), created_at, created_by.
ModelRow = tuple[str, int, str | None, str, str, str, str, str, str]


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ModelRecord:
    name: str
    version: int
    description: str | None
    sha256: str
    files: tuple[FileEntry, ...]
    created_at: str
    created_by: str
    tags: Mapping[str, str] = field(default_factory=dict)
    properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.files)

    def to_json(self) -> JSONObject:
        return {
            "name": self.name,
            "version": self.version,
            "id": self.ref,
            "description": self.description,
            "tags": dict(self.tags),
            "properties": dict(self.properties),
            "sha256": self.sha256,
            "size": self.size,
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files],
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


def resolve_registry_root(explicit: Path | None = None) -> Path:
    """``--registry DIR``, else ``$EDGESHIP_HOME``, else ``.edgeship/`` in the current folder."""
    if explicit is not None:
        return explicit
    home = os.environ.get("EDGESHIP_HOME")
    return Path(home) if home else Path.cwd() / ".edgeship"


def _refuse_links_outside(target: Path, out_root: Path) -> None:
    """A file or folder already inside ``out_root`` may be a symlink leading elsewhere: never write through it."""
    if target.is_symlink():
        raise RegistryError(f"refusing to write through symlink {target}")
    existing = target.parent
    while not (existing.exists() or existing.is_symlink()) and existing != out_root:
        existing = existing.parent
    if not existing.resolve().is_relative_to(out_root):
        raise UnsafePathError(f"refusing to write {target}: {existing} leads outside {out_root}")


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class Registry:
    """A local, versioned model registry (``name:version``, immutable, content-hashed)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blob_root = root / "blobs" / "sha256"
        self.db_path = root / "registry.db"

    @classmethod
    def open(cls, root: Path | None = None) -> Registry:
        registry = cls(resolve_registry_root(root))
        try:
            registry.root.mkdir(parents=True, exist_ok=True)
            with registry._connect() as db:
                db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise RegistryError(f"cannot open registry at {registry.root}: {exc}") from exc
        return registry

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=60000")
            yield db
        finally:
            db.close()

    # ---- blobs -----------------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        # The digest comes from the database: a tampered row must not name a path outside the blobs.
        if not _SHA256.fullmatch(sha256):
            raise RegistryError(f"corrupt registry {self.root}: {sha256!r} is not a sha256 digest")
        return self.blob_root / sha256[:2] / sha256

    def _store_blob(self, source: Path) -> FileEntry:
        sha = file_sha256(source)
        target = self.blob_path(sha)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            try:
                with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                os.chmod(tmp_name, 0o444)
                os.replace(tmp_name, target)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            if file_sha256(target) != sha:  # the source changed while we copied it
                target.unlink(missing_ok=True)
                raise RegistryError(f"{source} changed while it was being registered")
        return FileEntry("", sha, target.stat().st_size)

    # ---- API -------------------------------------------------------------------------
    def register(
        self,
        path: Path,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        properties: Mapping[str, str] | None = None,
        child_paths: tuple[str, ...] | list[str] = (),
    ) -> ModelRecord:
        validate_name(name)
        sources = collect_files(path, child_paths)
        entries = []
        for source in sources:
            stored = self._store_blob(source.absolute_path)
            entries.append(FileEntry(source.relative_path, stored.sha256, stored.size))
        files = tuple(entries)
        sha = content_sha256([(f.path, f.sha256) for f in files])
        created_at = utc_timestamp(microseconds=True)
        created_by = _who()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT last_version FROM counters WHERE name = ?", (name,)).fetchone()
                version = (row[0] if row else 0) + 1
                db.execute("INSERT OR REPLACE INTO counters (name, last_version) VALUES (?, ?)", (name, version))
                db.execute(
                    "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        version,
                        description,
                        json.dumps(dict(tags or {})),
                        json.dumps(dict(properties or {})),
                        sha,
                        json.dumps([[f.path, f.sha256, f.size] for f in files]),
                        created_at,
                        created_by,
                    ),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return ModelRecord(
            name, version, description, sha, files, created_at, created_by, dict(tags or {}), dict(properties or {})
        )

    @staticmethod
    def _record(row: ModelRow) -> ModelRecord:
        name, version, description, tags, properties, sha, files, created_at, created_by = row
        return ModelRecord(
            name,
            version,
            description,
            sha,
            tuple(FileEntry(p, s, n) for p, s, n in json.loads(files)),
            created_at,
            created_by,
            json.loads(tags),
            json.loads(properties),
        )

    def get(self, name: str, version: int | None = None) -> ModelRecord:
        validate_name(name)
        with self._connect() as db:
            if version is None:
                row = db.execute(
                    "SELECT * FROM models WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
                ).fetchone()
            else:
                row = db.execute("SELECT * FROM models WHERE name = ? AND version = ?", (name, version)).fetchone()
        if row is None:
            what = f"{name}:{version}" if version is not None else name
            raise ModelNotFoundError(f"model {what} is not registered in {self.root}")
        return self._record(row)

    def list(self, name: str | None = None) -> list[ModelRecord]:
        with self._connect() as db:
            if name is None:
                rows = db.execute("SELECT * FROM models ORDER BY name, version").fetchall()
            else:
                validate_name(name)
                rows = db.execute("SELECT * FROM models WHERE name = ? ORDER BY version", (name,)).fetchall()
        return [self._record(row) for row in rows]

    def download(self, name: str, version: int | None, out_dir: Path) -> Path:
        """Write the model's files under ``out_dir`` (never outside it); returns ``out_dir``."""
        record = self.get(name, version)
        out_root = out_dir.resolve()
        targets = []
        for entry in record.files:
            relative = safe_relative_path(entry.path)
            blob = self.blob_path(entry.sha256)
            if not blob.is_file():
                raise RegistryError(f"{record.ref}: stored content for {entry.path} is missing")
            targets.append((out_root / relative, blob))
        for target, _ in targets:  # all checked before anything is written
            _refuse_links_outside(target, out_root)
        for target, blob in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(blob, target)
        return out_dir

    @contextmanager
    def linked_files(self, record: ModelRecord) -> Iterator[dict[str, Path]]:
        """The model's files under their own names (symlinks to the read-only blobs, in a temporary
        folder that goes away afterwards): what tools that expect ``model.h5`` beside
        ``tokenizer.pkl`` need, without copying anything."""
        with tempfile.TemporaryDirectory(prefix="edgeship-model-") as tmp:
            files = {}
            for relative, blob in self.file_paths(record).items():
                link = Path(tmp) / safe_relative_path(relative)
                link.parent.mkdir(parents=True, exist_ok=True)
                # A relative target would be read from the temporary folder: `--registry reg` gave dangling links.
                link.symlink_to(blob.absolute())
                files[relative] = link
            yield files

    def file_paths(self, record: ModelRecord) -> dict[str, Path]:
        """Relative path -> read-only blob path: read a model's files without copying them."""
        return {entry.path: self.blob_path(entry.sha256) for entry in record.files}

    def delete(self, name: str, version: int) -> ModelRecord:
        record = self.get(name, version)
        blobs = {entry.sha256: self.blob_path(entry.sha256) for entry in record.files}  # checked before deleting
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM models WHERE name = ? AND version = ?", (name, version))
            still_used = {sha for (files,) in db.execute("SELECT files FROM models") for _, sha, _ in json.loads(files)}
            db.execute("COMMIT")
        for sha, blob in blobs.items():
            if sha not in still_used:
                blob.unlink(missing_ok=True)
        return record
