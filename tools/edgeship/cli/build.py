"""`edgeship build`: build and tag module images per platform through a Docker engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from edgeship.errors import ConfigError, EdgeshipError

PLATFORMS = {"amd64": "linux/amd64", "arm64v8": "linux/arm64", "arm32v7": "linux/arm/v7"}


def read_module_json(module_dir: Path) -> dict[str, Any]:
    path = module_dir / "module.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("image"), dict):
        raise ConfigError(f"{path} has no 'image' section")
    return data


def image_tag(module: dict[str, Any], platform: str) -> str:
    image = module["image"]
    return f"{image['repository']}:{image['tag']['version']}-{platform}"


@click.command(name="build")
@click.option("--module-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("modules/sentiment"),
              show_default=True)
@click.option("--platform", "platforms", multiple=True, type=click.Choice(sorted(PLATFORMS)),
              help="Platform(s) to build (default: every platform module.json lists).")
def cli(module_dir: Path, platforms: tuple[str, ...]) -> None:
    """Build and tag a module's images (needs a reachable Docker engine)."""
    module = read_module_json(module_dir)
    dockerfiles: dict[str, str] = module["image"]["tag"].get("platforms", {})
    chosen = list(platforms) or list(dockerfiles)
    unknown = [p for p in chosen if p not in dockerfiles]
    if unknown:
        raise ConfigError(f"module.json lists no Dockerfile for {', '.join(unknown)}")
    if not (module_dir / "model" / "model.json").is_file():
        raise ConfigError(f"{module_dir / 'model'} holds no packaged model: run 'edgeship package' first")
    import docker
    from docker.errors import APIError, BuildError, DockerException

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        raise EdgeshipError(
            f"no Docker engine is reachable ({str(exc).splitlines()[0][:120]}); 'edgeship build' needs one, "
            "while 'edgeship sim' runs modules as processes without it"
        ) from None
    console = Console()
    context = module_dir / module["image"].get("contextPath", "./")
    for platform in chosen:
        tag = image_tag(module, platform)
        with console.status(f"building {tag}"):
            try:
                client.images.build(path=str(context), dockerfile=dockerfiles[platform], tag=tag,
                                    platform=PLATFORMS[platform], rm=True)
            except (BuildError, APIError) as exc:
                raise EdgeshipError(f"building {tag} failed: {str(exc).splitlines()[0]}") from None
        console.print(f"built {tag}")
