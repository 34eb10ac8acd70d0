"""The real engine loads the stand-in's archive with the architecture it states (docker import would say amd64)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from edgeship.images.archive import ImageConfig, load_image_archive, write_image_archive
from edgeship.images.platforms import platform_named

pytestmark = pytest.mark.docker


def test_engine_keeps_the_arm64_architecture_of_a_loaded_base(docker_client: Any, tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as archive:
        member = tarfile.TarInfo("./etc/edgeship-test")
        member.size = 3
        archive.addfile(member, io.BytesIO(b"hi\n"))
    tag = "edgeship/archive-test:arm64"
    write_image_archive(
        rootfs,
        tmp_path / "image.tar",
        tag,
        platform_named("arm64v8"),
        ImageConfig({"LANG": "C.UTF-8"}, ["python3"], {"org.edgeship.test": "1"}, "test"),
    )
    try:
        load_image_archive(docker_client, tmp_path / "image.tar")
        attrs = docker_client.images.get(tag).attrs
        assert (attrs["Os"], attrs["Architecture"], attrs.get("Variant")) == ("linux", "arm64", "v8")
        assert attrs["Config"]["Env"] == ["LANG=C.UTF-8"]
        assert attrs["Config"]["Labels"] == {"org.edgeship.test": "1"}
    finally:
        docker_client.images.remove(tag, force=True)
