"""Building one module image per platform from the module's Dockerfile, with no network in the build."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgeship.errors import ConfigError, ImageError
from edgeship.images.engine import first_line
from edgeship.images.platforms import Platform
from edgeship.images.wheelhouse import ensure_wheelhouse
from edgeship.jsontypes import JSONObject

if TYPE_CHECKING:
    from docker import DockerClient


@dataclass(frozen=True)
class ModuleImage:
    """What module.json says about a module's images."""

    folder: Path
    repository: str  # with ${VAR} expanded
    version: str
    dockerfiles: dict[str, str]  # platform name -> Dockerfile path relative to the context
    context: Path

    def tag(self, platform: str, container_tag: str = "") -> str:
        """iotedgedev's rule: ``{repository lower-cased}:{version}[-{CONTAINER_TAG}]-{platform}``."""
        suffix = f"-{container_tag}" if container_tag else ""
        return f"{self.repository.lower()}:{self.version}{suffix}-{platform}"


@dataclass(frozen=True)
class BuiltImage:
    platform: str
    tag: str
    size_bytes: int
    seconds: float

    def to_json(self) -> JSONObject:
        return {"platform": self.platform, "tag": self.tag, "size_bytes": self.size_bytes}


def read_module_json(module_dir: Path, variables: dict[str, str]) -> ModuleImage:
    from edgeship.images.variables import expand

    path = module_dir / "module.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    image = data.get("image") if isinstance(data, dict) else None
    if not isinstance(image, dict) or not isinstance(image.get("repository"), str):
        raise ConfigError(f"{path} has no 'image' section with a repository")
    tag: dict[str, object] = image["tag"] if isinstance(image.get("tag"), dict) else {}
    platforms = tag.get("platforms", {})
    if not isinstance(platforms, dict):
        raise ConfigError(f"{path}: image.tag.platforms must map platform names to Dockerfiles")
    repository = expand(image["repository"], variables, f"{path}: image.repository")
    return ModuleImage(
        module_dir,
        repository,
        str(tag.get("version", "0.0.0")),
        dict(platforms),
        module_dir / str(image.get("contextPath", "./")),
    )


def build_image(
    client: DockerClient,
    module: ModuleImage,
    platform: Platform,
    base_image: str,
    *,
    container_tag: str = "",
    progress: Callable[[str], None] | None = None,
    cache: bool = True,
) -> BuiltImage:
    """Build ``module`` for ``platform`` on ``base_image``; the build itself has no network."""
    from docker.errors import APIError, ImageNotFound

    started = time.perf_counter()
    wheelhouse, _ = ensure_wheelhouse(module.folder, platform)
    tag = module.tag(platform.name, container_tag)
    relative = wheelhouse.resolve().relative_to(module.context.resolve())
    try:
        stream = client.api.build(
            path=str(module.context),
            dockerfile=module.dockerfiles[platform.name],
            tag=tag,
            rm=True,
            forcerm=True,
            decode=True,
            platform=platform.docker,
            network_mode="none",
            pull=False,
            nocache=not cache,
            buildargs={"BASE_IMAGE": base_image, "WHEELHOUSE": relative.as_posix()},
        )
        for chunk in stream:
            if "error" in chunk:
                raise ImageError(f"building {tag} failed: {str(chunk['error']).strip().splitlines()[-1][:300]}")
            line = str(chunk.get("stream", "")).strip()
            if line and progress is not None:
                progress(line)
        size = int(client.images.get(tag).attrs["Size"])
    except (APIError, ImageNotFound) as exc:
        raise ImageError(f"building {tag} failed: {first_line(exc)}") from None
    return BuiltImage(platform.name, tag, size, time.perf_counter() - started)
