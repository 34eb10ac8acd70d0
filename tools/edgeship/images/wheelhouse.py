"""The module's pinned requirements resolved on the host into a wheelhouse for the target platform.

``pip download --platform ... --only-binary=:all:`` fetches the binary wheels a target needs
without running target code. Some pins publish only an sdist (paho-mqtt 1.6.1); those are pure
Python, so they are built into ``py3-none-any`` wheels on the host first and offered to the
download through ``--find-links``. The Dockerfile then installs with ``--no-index`` from this
folder only, so the image build needs no network. A wheelhouse is reused while the requirements
file it was made from is unchanged.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edgeship.errors import ImageError
from edgeship.images.platforms import Platform

WHEELHOUSE_DIR = ".wheelhouse"  # inside the module folder (the build context), git-ignored
STAMP = "requirements.sha256"
PYTHON_VERSION = "3.11"


def wheelhouse_path(module_dir: Path, platform: Platform) -> Path:
    return module_dir / WHEELHOUSE_DIR / platform.name


def _pip(args: list[str], what: str) -> None:
    argv = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("WARNING")]
        raise ImageError(f"{what} failed: {(lines[-1] if lines else f'pip exit code {result.returncode}')[:300]}")


def _pure_wheels(requirements: Path, out: Path) -> None:
    """Host-built wheels of every pin; only the platform-independent ones are kept."""
    with tempfile.TemporaryDirectory(prefix="edgeship-wheels-") as tmp:
        _pip(["wheel", "--requirement", str(requirements), "--wheel-dir", tmp], "building pure-Python wheels")
        for wheel in Path(tmp).glob("*-none-any.whl"):
            shutil.copy2(wheel, out / wheel.name)


def ensure_wheelhouse(module_dir: Path, platform: Platform, *, rebuild: bool = False) -> tuple[Path, bool]:
    """The wheelhouse folder for ``platform`` and whether it was made now (False: reused)."""
    requirements = module_dir / "requirements.txt"
    if not requirements.is_file():
        raise ImageError(f"{requirements} does not exist")
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    target = wheelhouse_path(module_dir, platform)
    stamp = target / STAMP
    if not rebuild and stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == digest:
        return target, False
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    pure = target.parent / f".pure-{platform.name}"
    shutil.rmtree(pure, ignore_errors=True)
    pure.mkdir()
    try:
        _pure_wheels(requirements, pure)
        args = [
            "download",
            "--requirement",
            str(requirements),
            "--dest",
            str(target),
            "--only-binary=:all:",
            "--python-version",
            PYTHON_VERSION,
            "--implementation",
            "cp",
            "--abi",
            f"cp{PYTHON_VERSION.replace('.', '')}",
            "--find-links",
            str(pure),
        ]
        for tag in platform.pip_platforms:
            args += ["--platform", tag]
        _pip(args, f"resolving {requirements} for {platform.name}")
    finally:
        shutil.rmtree(pure, ignore_errors=True)
    shutil.copy2(requirements, target / "requirements.txt")
    stamp.write_text(digest + "\n", encoding="utf-8")
    return target, True
