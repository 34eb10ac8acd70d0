"""Read ``modules/<folder>/module.json`` (iotedgedev's format plus the ``edgeship`` interface key)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edgeship.errors import ManifestError

PLATFORMS = ("amd64", "arm64v8", "arm32v7")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
# ``${VAR:-default}`` too, so a module.json can name ${CONTAINER_REGISTRY_SERVER} with a fallback.
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Interface:
    """What a module declares under ``edgeship``: the inputs and outputs routes may use, its methods."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    methods: tuple[str, ...]


@dataclass(frozen=True)
class ModuleInfo:
    folder: str
    repository: str
    version: str
    platforms: Mapping[str, str]  # platform -> Dockerfile
    interface: Interface | None  # None: the module declares nothing, its routes are not checked
    path: Path

    def image(self, platform: str, container_tag: str = "") -> str:
        """iotedgedev's rule: ``{repository lower-cased}:{version}[-{CONTAINER_TAG}]-{platform}``, where
        ``platform`` is any key of ``image.tag.platforms`` (``amd64.debug`` gives ``...-amd64.debug``)."""
        if platform not in self.platforms:
            known = ", ".join(self.platforms) or "none"
            raise ManifestError(
                f"{self.path}: module {self.folder!r} has no Dockerfile for platform {platform!r} (it has: {known})"
            )
        suffix = f"-{container_tag}" if container_tag else ""
        return f"{self.repository.lower()}:{self.version}{suffix}-{platform}"


def _names(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and _NAME.match(v) for v in value):
        raise ManifestError(f"{where}: expected a list of names (letters, digits, '_', '-')")
    return tuple(value)


def parse_module_json(data: object, path: Path, folder: str) -> ModuleInfo:
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: expected a JSON object")
    image = data.get("image")
    if not isinstance(image, dict) or not isinstance(image.get("repository"), str) or not image["repository"]:
        raise ManifestError(f"{path}: image.repository (a string) is required")
    tag = image.get("tag")
    if not isinstance(tag, dict):
        raise ManifestError(f"{path}: image.tag (an object with version and platforms) is required")
    version = tag.get("version", "0.0.0")
    platforms = tag.get("platforms", {})
    if not isinstance(version, str) or not version:
        raise ManifestError(f"{path}: image.tag.version must be a non-empty string")
    if not isinstance(platforms, dict) or not all(isinstance(v, str) for v in platforms.values()):
        raise ManifestError(f"{path}: image.tag.platforms must map platform names to Dockerfile paths")
    interface = None
    declared = data.get("edgeship")
    if declared is not None:
        if not isinstance(declared, dict):
            raise ManifestError(f"{path}: edgeship must be an object with inputs, outputs and methods")
        interface = Interface(
            _names(declared.get("inputs"), f"{path}: edgeship.inputs"),
            _names(declared.get("outputs"), f"{path}: edgeship.outputs"),
            _names(declared.get("methods"), f"{path}: edgeship.methods"),
        )
    return ModuleInfo(folder, image["repository"], version, dict(platforms), interface, path)


def load_module_json(folder: Path, expand: Mapping[str, str] | None = None) -> ModuleInfo:
    """Read ``folder/module.json``; like iotedgedev, ``${VAR}``/``$VAR`` in it come from ``expand``."""
    path = folder / "module.json"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror or exc}") from None
    values = expand or {}

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1) or match.group(3), match.group(2)
        if default is not None:
            return values.get(name) or default  # shell semantics: unset or empty takes the default
        # Unknown names stay as written (os.path.expandvars semantics, as iotedgedev reads module.json).
        return values.get(name, match.group(0))

    text = _VARIABLE.sub(substitute, text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    return parse_module_json(data, path, folder.name)


def discover_modules(modules_dir: Path, expand: Mapping[str, str] | None = None) -> dict[str, ModuleInfo]:
    """Every ``<modules_dir>/<folder>/module.json``, by folder name (an absent directory is no modules)."""
    if not modules_dir.is_dir():
        return {}
    found: dict[str, ModuleInfo] = {}
    for child in sorted(modules_dir.iterdir()):
        if (child / "module.json").is_file():
            found[child.name] = load_module_json(child, expand)
    return found
