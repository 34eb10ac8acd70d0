"""A root file system as a one-layer image archive in ``docker save``'s format, for ``docker load``.

Why not ``docker import --platform``: Debian's engine (20.10) ignores ``--platform`` on import
unless the daemon runs experimental, and labels every imported image with the host's
architecture. An arm64 stand-in base then says ``amd64``, and a build for ``linux/arm64`` on it
is refused (or, worse, an arm64 image is labelled amd64 and pushed). Writing the image's config
ourselves states the architecture on any engine: the archive is the documented "Docker Image
Specification v1.2" layout (``manifest.json``, a config named by its sha256, the layer tar), and
``docker load`` checks the layer against the config's ``diff_ids``.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from edgeship.errors import ImageError
from edgeship.images.engine import first_line
from edgeship.images.platforms import Platform
from edgeship.registry.content import file_sha256

if TYPE_CHECKING:
    from docker import DockerClient


@dataclass(frozen=True)
class ImageConfig:
    env: Mapping[str, str]
    cmd: Sequence[str]
    labels: Mapping[str, str]
    created_by: str


def docker_platform(platform: Platform) -> dict[str, str]:
    """``os``, ``architecture`` and (when Docker names one) ``variant`` from ``linux/arm64`` and the like."""
    parts = platform.docker.split("/")
    fields = {"os": parts[0], "architecture": parts[1]}
    if len(parts) > 2:
        fields["variant"] = parts[2]
    elif parts[1] == "arm64":
        fields["variant"] = "v8"  # what Docker records for arm64 images it pulls
    return fields


def image_config(layer_digest: str, platform: Platform, config: ImageConfig, created: datetime) -> bytes:
    stamp = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    document = {
        **docker_platform(platform),
        "created": stamp,
        "config": {
            "Env": [f"{name}={value}" for name, value in config.env.items()],
            "Cmd": list(config.cmd),
            "Labels": dict(config.labels),
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        "history": [{"created": stamp, "created_by": config.created_by}],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    member = tarfile.TarInfo(name)
    member.size, member.mtime, member.mode = len(data), mtime, 0o644
    archive.addfile(member, io.BytesIO(data))


def write_image_archive(
    rootfs_tar: Path, out: Path, tag: str, platform: Platform, config: ImageConfig, created: datetime | None = None
) -> str:
    """Write ``out`` (a tar for ``docker load``) with ``rootfs_tar`` as its one layer; returns the config digest."""
    when = created or datetime.now(UTC)
    layer_digest = file_sha256(rootfs_tar)
    config_bytes = image_config(layer_digest, platform, config, when)
    config_digest = hashlib.sha256(config_bytes).hexdigest()
    layer_name = f"{layer_digest}/layer.tar"
    manifest = [{"Config": f"{config_digest}.json", "RepoTags": [tag], "Layers": [layer_name]}]
    mtime = when.timestamp()
    with tarfile.open(out, "w") as archive:
        _add_bytes(archive, f"{config_digest}.json", config_bytes, mtime)
        layer = archive.gettarinfo(str(rootfs_tar), arcname=layer_name)
        layer.mtime, layer.mode, layer.uid, layer.gid, layer.uname, layer.gname = mtime, 0o644, 0, 0, "", ""
        with rootfs_tar.open("rb") as stream:
            archive.addfile(layer, stream)
        _add_bytes(archive, "manifest.json", json.dumps(manifest).encode("utf-8"), mtime)
    return config_digest


def load_image_archive(client: DockerClient, archive: Path) -> None:
    """``docker load`` through the SDK (the body streams from the file)."""
    from docker.errors import DockerException

    try:
        with archive.open("rb") as stream:
            client.images.load(stream)
    except DockerException as exc:
        raise ImageError(f"docker load failed: {first_line(exc, 300)}") from None
