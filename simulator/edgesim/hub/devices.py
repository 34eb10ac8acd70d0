"""Leaf (downstream) device identities: a name and a symmetric key each, kept in the state directory.

Unlike module keys (fresh in memory every run, as edgeAgent hands modules signatures only), a leaf
device's key lives in its connection string, on the device: it must survive restarts of the
simulator. ``<state>/devices.json`` is written mode 0600, atomically.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from edgesim import sas
from edgesim.errors import SimulatorError

# IoT Hub's device id characters (letters, digits and - . _ : % * ? ! ( ) , = @ $ '), at most 128.
DEVICE_ID = re.compile(r"^[A-Za-z0-9\-.:%_*?!(),=@$']{1,128}$")


class DeviceError(SimulatorError):
    """A device name that is invalid, taken, or unknown."""


class DeviceRegistry:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: dict[str, str] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self._keys = {str(name): str(entry["key"]) for name, entry in data["devices"].items()}
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise DeviceError(f"{path} is not a device registry: {exc}") from None

    def keys(self) -> dict[str, str]:
        return dict(self._keys)

    def names(self) -> list[str]:
        return sorted(self._keys)

    def key(self, name: str) -> str:
        try:
            return self._keys[name]
        except KeyError:
            raise DeviceError(f"no device named {name!r}") from None

    def add(self, name: str, reserved: set[str]) -> str:
        if not DEVICE_ID.match(name):
            raise DeviceError(f"invalid device id {name!r}: 1-128 letters, digits or - . : % _ * ? ! ( ) , = @ $ '")
        if name in reserved:
            raise DeviceError(f"{name!r} is already the name of the edge device or one of its modules")
        if name in self._keys:
            raise DeviceError(f"a device named {name!r} exists already")
        self._keys[name] = sas.generate_key()
        self._save()
        return self._keys[name]

    def remove(self, name: str) -> None:
        if name not in self._keys:
            raise DeviceError(f"no device named {name!r}")
        del self._keys[name]
        self._save()

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"devices": {name: {"key": key} for name, key in sorted(self._keys.items())}}, handle, indent=2)
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)
