"""Helpers for the docker tests: the registry's address, polling the engine, qemu for arm64."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import requests

T = TypeVar("T")
USER, PASSWORD = "edgeship", "s3cret-pass"


@dataclass(frozen=True)
class Registry:
    address: str  # 127.0.0.1:PORT
    port: int
    username: str
    password: str

    def env_file(self, folder: Path, password: str | None = None) -> Path:
        path = folder / ".env"
        path.write_text(
            f"CONTAINER_REGISTRY_SERVER={self.address}\nCONTAINER_REGISTRY_USERNAME={self.username}\n"
            f"CONTAINER_REGISTRY_PASSWORD={password or self.password}\n",
            encoding="utf-8",
        )
        return path

    def tags(self, repository: str) -> list[str]:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        answer = requests.get(
            f"http://{self.address}/v2/{repository}/tags/list", headers={"Authorization": f"Basic {token}"}, timeout=10
        )
        if answer.status_code == 404:
            return []
        answer.raise_for_status()
        return list(answer.json().get("tags") or [])


BINFMT = Path("/proc/sys/fs/binfmt_misc")


def aarch64_emulation() -> str | None:
    """Make arm64 binaries run here; returns why not, or None when they do.

    Registering a binfmt_misc handler changes this machine's kernel state (until reboot or until
    it is removed with ``echo -1 > /proc/sys/fs/binfmt_misc/qemu-aarch64``); only the arm64 test's
    set-up calls this, and only as root. Debian's qemu-user-static ships the handler's definition
    with the F flag, so the emulator also runs inside containers.
    """
    import os
    import subprocess

    if (BINFMT / "qemu-aarch64").exists():
        return None
    definition = Path("/usr/lib/binfmt.d/qemu-aarch64.conf")
    if os.geteuid() != 0:
        return "arm64 emulation is not registered and registering it (binfmt_misc) needs root"
    if not definition.is_file():
        return "qemu-user-static is not installed (apt-get install qemu-user-static)"
    if not (BINFMT / "register").exists():
        mounted = subprocess.run(
            ["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], capture_output=True, text=True, check=False
        )
        if mounted.returncode != 0:
            return f"cannot mount binfmt_misc: {mounted.stderr.strip()}"
    try:
        (BINFMT / "register").write_text(definition.read_text().strip())
    except OSError as exc:
        return f"cannot register the qemu-aarch64 binfmt handler: {exc}"
    return None


QEMU_FOR_ONNXRUNTIME = (8, 0)


def qemu_aarch64_version() -> tuple[int, ...] | None:
    """The version of the emulator the aarch64 handler runs (None: no handler, or it does not say)."""
    import re
    import subprocess

    handler = BINFMT / "qemu-aarch64"
    if not handler.exists():
        return None
    match = re.search(r"^interpreter (\S+)", handler.read_text(), re.MULTILINE)
    if match is None:
        return None
    try:
        # Debian's handler is a -binfmt-P link that refuses to run by hand: ask the emulator it names.
        emulator = Path(match.group(1)).resolve()
        out = subprocess.run(
            [str(emulator), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"version (\d+)\.(\d+)", out)
    return (int(found.group(1)), int(found.group(2))) if found else None
