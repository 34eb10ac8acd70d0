"""`edgeship build`: build and tag a module's images per platform through a Docker engine.

The module's pinned requirements are resolved on the host into a wheelhouse for each platform and
the Dockerfile installs from it only (``--network none`` during the build). ``--base-image``
defaults to the official ``python:3.11-slim-bookworm`` when the engine has it, otherwise to the
stand-in that ``edgeship image base`` makes from Debian packages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from edgeship.cli._common import F
from edgeship.errors import ConfigError
from edgeship.images import PLATFORMS, platform_named

if TYPE_CHECKING:
    from docker import DockerClient

OFFICIAL_BASE = "python:3.11-slim-bookworm"


def default_base(client: DockerClient, platform_name: str) -> str:
    """The official base when the engine holds it for this platform, else the (cached) stand-in."""
    from docker.errors import ImageNotFound

    from edgeship.images.base import ensure_base

    platform = platform_named(platform_name)
    try:
        image = client.images.get(OFFICIAL_BASE)
        if image.attrs.get("Architecture") == platform.debian_arch:
            return OFFICIAL_BASE
    except ImageNotFound:
        pass
    return ensure_base(client, platform)[0]


def _needs_model(module_dir: Path, dockerfiles: list[str]) -> bool:
    """Whether a Dockerfile copies the packaged model (one that cannot be read is assumed to)."""
    for name in dockerfiles:
        try:
            text = (module_dir / name).read_text(encoding="utf-8")
        except OSError:
            return True
        if any("model" in line.split() for line in text.splitlines() if not line.lstrip().startswith("#")):
            return True
    return False


def env_option(func: F) -> F:
    return click.option(
        "--env",
        "env_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="The .env with CONTAINER_REGISTRY_* (default: ./.env when present).",
    )(func)


@click.command(name="build")
@click.option(
    "--module-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("modules/sentiment"),
    show_default=True,
)
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    type=click.Choice(sorted(PLATFORMS)),
    help="Platform(s) to build (default: those module.json lists, but arm32v7).",
)
@click.option(
    "--base-image", default=None, help=f"Base image (default: {OFFICIAL_BASE} if present, else the stand-in)."
)
@click.option("--push", "push", is_flag=True, help="Push each image after building it.")
@env_option
@click.option("--username", default=None, help="Registry user (overrides CONTAINER_REGISTRY_USERNAME).")
@click.option("--password", default=None, help="Registry password (overrides CONTAINER_REGISTRY_PASSWORD).")
@click.option("--json", "as_json", is_flag=True, help='Print {"images": [{"platform", "tag", "size_bytes"}]}.')
def cli(
    module_dir: Path,
    platforms: tuple[str, ...],
    base_image: str | None,
    push: bool,
    env_file: Path | None,
    username: str | None,
    password: str | None,
    as_json: bool,
) -> None:
    """Build and tag a module's images (needs a reachable Docker engine)."""
    from edgeship.images.build import build_image, read_module_json
    from edgeship.images.variables import load_variables

    variables = load_variables(env_file)
    module = read_module_json(module_dir, variables)
    # Without --platform: every platform module.json lists that can be built (arm32v7 cannot, below).
    chosen = list(platforms) or [p for p in module.dockerfiles if p != "arm32v7"]
    unknown = [p for p in chosen if p not in module.dockerfiles]
    if unknown:
        raise ConfigError(f"module.json lists no Dockerfile for {', '.join(unknown)}")
    if (
        _needs_model(module_dir, [module.dockerfiles[p] for p in chosen])
        and not (module_dir / "model" / "model.json").is_file()
    ):
        raise ConfigError(f"{module_dir / 'model'} holds no packaged model: run 'edgeship package' first")
    if "arm32v7" in chosen:
        raise ConfigError(
            "arm32v7 images cannot be built here: onnxruntime publishes no armv7 wheel "
            "(see modules/sentiment/Dockerfile.arm32v7 for building one)"
        )
    from edgeship.images.engine import connect
    from edgeship.images.push import RegistryCredentials, push_image

    client = connect()
    console = Console(stderr=True, quiet=as_json)
    built = []
    for name in chosen:
        base = base_image or default_base(client, name)
        with console.status(f"building {module.tag(name)} on {base}"):
            image = build_image(
                client, module, platform_named(name), base, container_tag=variables.get("CONTAINER_TAG", "")
            )
        console.print(f"built {image.tag} ({image.size_bytes / 1e6:.0f} MB, {image.seconds:.0f} s)")
        built.append(image)
        if push:
            credentials = RegistryCredentials.from_variables(variables, username=username, password=password)
            digest = push_image(client, image.tag, credentials)
            console.print(f"pushed {image.tag} {digest}")
    if as_json:
        click.echo(json.dumps({"images": [image.to_json() for image in built]}, indent=2))
