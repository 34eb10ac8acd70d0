"""A packaged model folder as one tar.gz, reproducible from its files alone.

Members are sorted, owned by 0:0, dated 0 and mode 0644, and gzip's own header carries no
name or time, so the same folder always gives the same bytes and so the same sha256: the
archive's address. Only the package's regular files go in (no folders, no links), which is
what the module's safe unpacker accepts.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

from edgeship.errors import PublishError
from edgeship.jsontypes import JSONObject

PACKAGE_FILES = ("model.json", "model.onnx", "tokenizer.json")


def archive_folder(folder: Path) -> bytes:
    missing = [name for name in PACKAGE_FILES if not (folder / name).is_file()]
    if missing:
        raise PublishError(f"{folder} is not a packaged model (missing {', '.join(missing)})")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(PACKAGE_FILES):
            data = (folder / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as gz:
        gz.write(raw.getvalue())
    return compressed.getvalue()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def desired_patch(name: str, version: int, sha256: str, uri: str) -> JSONObject:
    """The desired-property patch that points a sentiment module at the archive."""
    return {"model": {"name": name, "version": version, "sha256": sha256, "uri": uri}}
