"""``edgeship image base``: a stand-in for ``python:3.11-slim-bookworm`` made from Debian packages.

Where the official image cannot be pulled (no Docker Hub), mmdebstrap builds a minimal bookworm
root file system with Debian's Python 3.11, written as an image archive that states its
architecture (``archive.py``: ``docker import`` labels every image with the host's) and loaded. Debian's
Python refuses ``pip install`` into the system (PEP 668), so the stand-in puts a venv's ``bin``
first on ``PATH``: ``python`` and ``pip`` then behave as in the official image. The image is
tagged per architecture and reused while the tag exists (with vfs storage every rebuild copies it).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from edgeship.errors import ImageError
from edgeship.images.archive import ImageConfig, load_image_archive, write_image_archive
from edgeship.images.platforms import Platform

if TYPE_CHECKING:
    from docker import DockerClient

STANDIN_REPOSITORY = "edgeship/python-standin"
STANDIN_VENV = "/usr/local/python"
PACKAGES = ("python3", "python3-venv", "ca-certificates", "passwd")
# What a slim image leaves out; dpkg skips these paths while unpacking.
EXCLUDED_PATHS = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/lintian/*",
)
ENVIRONMENT = {
    "PATH": f"{STANDIN_VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}


def standin_tag(platform: Platform) -> str:
    return f"{STANDIN_REPOSITORY}:3.11-bookworm-{platform.debian_arch}"


def _existing(client: DockerClient, tag: str, platform: Platform) -> bool:
    from docker.errors import ImageNotFound

    try:
        image = client.images.get(tag)
    except ImageNotFound:
        return False
    return bool(image.attrs.get("Architecture") == platform.debian_arch.replace("armhf", "arm"))


def _run(argv: list[str], what: str, timeout: float) -> None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise ImageError(f"{what}: {argv[0]} is not installed (apt-get install {argv[0]})") from None
    except subprocess.TimeoutExpired:
        raise ImageError(f"{what}: {argv[0]} took longer than {timeout:.0f} s") from None
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        tail = lines[-1] if lines else f"exit code {result.returncode}"
        raise ImageError(f"{what} failed: {tail[:300]}")


def _check_emulation(platform: Platform) -> None:
    if platform.name == "amd64":
        return
    handler = Path("/proc/sys/fs/binfmt_misc") / f"qemu-{platform.machine.replace('armv7l', 'arm')}"
    if not handler.exists():
        raise ImageError(
            f"a {platform.name} base runs {platform.debian_arch} package scripts, which needs "
            f"emulation: install qemu-user-static and register binfmt_misc ({handler} is missing)"
        )


def mmdebstrap_argv(platform: Platform, out: Path) -> list[str]:
    argv = ["mmdebstrap", "--variant=minbase", f"--arch={platform.debian_arch}", f"--include={','.join(PACKAGES)}"]
    argv += [f"--dpkgopt=path-exclude={path}" for path in EXCLUDED_PATHS]
    argv += [
        f'--customize-hook=chroot "$1" python3 -m venv {STANDIN_VENV}',
        '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*',
        "bookworm",
        str(out),
    ]
    return argv


def ensure_base(client: DockerClient, platform: Platform, *, rebuild: bool = False) -> tuple[str, bool]:
    """The stand-in's tag for ``platform`` and whether it was built now (False: reused)."""
    tag = standin_tag(platform)
    if not rebuild and _existing(client, tag, platform):
        return tag, False
    if platform.name == "arm32v7":
        raise ImageError("arm32v7 is not supported: onnxruntime publishes no armv7 wheel (see Dockerfile.arm32v7)")
    _check_emulation(platform)
    with tempfile.TemporaryDirectory(prefix="edgeship-base-") as tmp:
        rootfs, archive = Path(tmp) / "rootfs.tar", Path(tmp) / "image.tar"
        # A foreign architecture runs every package script under qemu: slower (about 4 min for arm64 here).
        _run(mmdebstrap_argv(platform, rootfs), "mmdebstrap", timeout=1800 if platform.name == "amd64" else 7200)
        write_image_archive(
            rootfs,
            archive,
            tag,
            platform,
            ImageConfig(
                ENVIRONMENT,
                ["python3"],
                {"org.edgeship.standin": "python:3.11-slim-bookworm"},
                f"edgeship image base: mmdebstrap --variant=minbase --arch={platform.debian_arch} bookworm",
            ),
        )
        load_image_archive(client, archive)
    if not _existing(client, tag, platform):
        raise ImageError(f"docker load did not produce {tag} for {platform.docker}")
    return tag, True
