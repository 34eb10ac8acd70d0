"""Collecting a model's files safely and hashing them.

A registration reads only regular files inside the given folder: a ``..`` component, an
absolute child path, or a symlink that leads outside is refused before anything is stored.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgeship.errors import RegistryError, UnsafePathError

CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceFile:
    relative_path: str  # POSIX, relative to the registered folder (or the file's name)
    absolute_path: Path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def content_sha256(entries: list[tuple[str, str]]) -> str:
    """One digest for a file set: over the sorted (relative path, file digest) pairs."""
    digest = hashlib.sha256()
    for relative_path, sha in sorted(entries):
        digest.update(relative_path.encode("utf-8") + b"\0" + sha.encode("ascii") + b"\n")
    return digest.hexdigest()


def safe_relative_path(text: str) -> PurePosixPath:
    """A stored relative path that cannot escape the folder it is written into."""
    path = PurePosixPath(text.replace("\\", "/"))
    if not text or path.is_absolute() or any(part in ("..", "") for part in path.parts) or "\0" in text:
        raise UnsafePathError(f"unsafe path {text!r}: it must stay inside its folder")
    return path


def _inside(root: Path, candidate: Path) -> bool:
    try:
        candidate.resolve(strict=True).relative_to(root)
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
        return False
    return True


def _walk(root: Path, start: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(start, followlinks=False):
        directory = Path(dirpath)
        for name in list(dirnames):
            if (directory / name).is_symlink():
                # A linked folder is followed only if it stays inside the registered folder.
                if not _inside(root, directory / name):
                    raise UnsafePathError(f"{directory / name} links outside {root}")
                found.extend(_walk(root, directory / name))
        for name in filenames:
            path = directory / name
            if not _inside(root, path):
                raise UnsafePathError(f"{path} links outside {root}")
            if path.resolve().is_file():
                found.append(path)
    return found


def collect_files(path: Path, child_paths: tuple[str, ...] | list[str] = ()) -> list[SourceFile]:
    """The files to register from ``path`` (a file or a folder), optionally only ``child_paths``."""
    if not path.exists():
        raise RegistryError(f"model path {path} does not exist")
    if path.is_file():
        if child_paths:
            raise RegistryError("--child-path needs PATH to be a folder")
        return [SourceFile(path.name, path.resolve())]
    root = path.resolve()
    starts: list[Path] = []
    if child_paths:
        for child in child_paths:
            relative = safe_relative_path(child)
            candidate = root / relative
            if not candidate.exists() and not candidate.is_symlink():
                raise RegistryError(f"child path {child!r} does not exist in {path}")
            if not _inside(root, candidate):
                raise UnsafePathError(f"child path {child!r} leads outside {path}")
            starts.append(candidate)
    else:
        starts.append(root)
    files: dict[str, SourceFile] = {}
    for start in starts:
        candidates = [start] if start.is_file() else _walk(root, start)
        for file_path in candidates:
            relative_name = file_path.relative_to(root).as_posix()
            files[relative_name] = SourceFile(relative_name, file_path.resolve())
    if not files:
        raise RegistryError(f"no files to register in {path}")
    return [files[key] for key in sorted(files)]
