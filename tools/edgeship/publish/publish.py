"""Write a packaged model's archive into a published folder, named by its sha256.

``<dir>/sha256/<hex>.tar.gz`` plus ``<dir>/<name>/<version>.json`` (what ``--json`` prints), so
``edgeship model serve`` can answer from the folder alone. The archive is written to a temporary
name and renamed: a device never sees half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

from edgeship.errors import PublishError
from edgeship.jsontypes import JSONObject
from edgeship.publish.archive import archive_folder, desired_patch, sha256_hex
from edgeship_sentiment.errors import ModelLoadError
from edgeship_sentiment.model_spec import ModelSpec


@dataclass(frozen=True)
class Published:
    uri: str
    sha256: str
    size: int
    patch: JSONObject
    path: str

    def to_json(self) -> JSONObject:
        return asdict(self)


def archive_name(sha256: str) -> str:
    return f"sha256/{sha256}.tar.gz"


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".publish-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def publish_folder(folder: Path, out_dir: Path, *, base_url: str | None = None) -> Published:
    """Archive ``folder`` (a packaged model) into ``out_dir``; the uri is ``file://`` unless ``base_url``."""
    try:
        spec = ModelSpec.read(folder / "model.json")
    except ModelLoadError as exc:
        raise PublishError(str(exc)) from None
    name, version = spec.name, spec.version
    if version is None:
        raise PublishError(f"{folder / 'model.json'} names no registered name:version (package a registered model)")
    if spec.parity_sample is None:
        raise PublishError(f"{folder} has no parity sample: package it again with this edgeship")
    data = archive_folder(folder)
    digest = sha256_hex(data)
    relative = archive_name(digest)
    try:
        _write_atomic(out_dir / relative, data)
        uri = (base_url.rstrip("/") + "/" + quote(relative)) if base_url else (out_dir.resolve() / relative).as_uri()
        published = Published(
            uri, digest, len(data), desired_patch(name, version, digest, uri), str(out_dir / relative)
        )
        _write_atomic(out_dir / name / f"{version}.json", (json.dumps(published.to_json(), indent=2) + "\n").encode())
    except OSError as exc:
        raise PublishError(f"cannot write to {out_dir}: {exc.strerror or exc}") from None
    return published
