"""The stand-in base's image archive: docker save's layout, digests docker load checks, the target's arch."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edgeship.images.archive import ImageConfig, docker_platform, write_image_archive
from edgeship.images.platforms import platform_named

CONFIG = ImageConfig(
    {"PATH": "/usr/local/python/bin:/usr/bin", "LANG": "C.UTF-8"},
    ["python3"],
    {"org.edgeship.standin": "python:3.11-slim-bookworm"},
    "test",
)


def tiny_rootfs(path: Path) -> Path:
    with tarfile.open(path, "w") as archive:
        data = b"#!/bin/sh\necho hello\n"
        member = tarfile.TarInfo("./usr/bin/hello")
        member.size, member.mode = len(data), 0o755
        archive.addfile(member, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("amd64", {"os": "linux", "architecture": "amd64"}),
        ("arm64v8", {"os": "linux", "architecture": "arm64", "variant": "v8"}),
        ("arm32v7", {"os": "linux", "architecture": "arm", "variant": "v7"}),
    ],
)
def test_docker_platform_fields(name: str, expected: dict[str, str]) -> None:
    assert docker_platform(platform_named(name)) == expected


def test_archive_is_docker_saves_layout_with_checked_digests(tmp_path: Path) -> None:
    rootfs = tiny_rootfs(tmp_path / "rootfs.tar")
    out = tmp_path / "image.tar"
    created = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    digest = write_image_archive(
        rootfs, out, "edgeship/python-standin:3.11-bookworm-arm64", platform_named("arm64v8"), CONFIG, created
    )
    with tarfile.open(out) as archive:
        names = archive.getnames()
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        config_bytes = archive.extractfile(f"{digest}.json").read()  # type: ignore[union-attr]
        layer_bytes = archive.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert sorted(names) == sorted(["manifest.json", f"{digest}.json", manifest[0]["Layers"][0]])
    assert manifest == [
        {
            "Config": f"{digest}.json",
            "RepoTags": ["edgeship/python-standin:3.11-bookworm-arm64"],
            "Layers": [f"{hashlib.sha256(rootfs.read_bytes()).hexdigest()}/layer.tar"],
        }
    ]
    assert hashlib.sha256(config_bytes).hexdigest() == digest  # docker load names configs by content
    assert layer_bytes == rootfs.read_bytes()
    config = json.loads(config_bytes)
    assert (config["os"], config["architecture"], config["variant"]) == ("linux", "arm64", "v8")
    assert config["rootfs"] == {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer_bytes).hexdigest()}"]}
    assert config["config"] == {
        "Env": ["PATH=/usr/local/python/bin:/usr/bin", "LANG=C.UTF-8"],
        "Cmd": ["python3"],
        "Labels": {"org.edgeship.standin": "python:3.11-slim-bookworm"},
    }
    assert config["created"] == "2026-12-01T23:00:00Z"


def test_archive_is_deterministic(tmp_path: Path) -> None:
    rootfs = tiny_rootfs(tmp_path / "rootfs.tar")
    created = datetime(2026, 12, 1, tzinfo=UTC)
    first = write_image_archive(rootfs, tmp_path / "a.tar", "t:1", platform_named("amd64"), CONFIG, created)
    second = write_image_archive(rootfs, tmp_path / "b.tar", "t:1", platform_named("amd64"), CONFIG, created)
    assert first == second
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
