"""`edgeship push IMAGE...`: push images with the registry credentials kept in ``.env``."""

from __future__ import annotations

from pathlib import Path

import click

from edgeship.cli.build import env_option


@click.command(name="push")
@click.argument("images", nargs=-1, required=True)
@env_option
@click.option("--username", default=None, help="Registry user (overrides CONTAINER_REGISTRY_USERNAME).")
@click.option("--password", default=None, help="Registry password (overrides CONTAINER_REGISTRY_PASSWORD).")
def cli(images: tuple[str, ...], env_file: Path | None, username: str | None, password: str | None) -> None:
    """Push IMAGE... to the registry each tag names (needs a reachable Docker engine)."""
    from edgeship.images.engine import connect
    from edgeship.images.push import RegistryCredentials, push_image
    from edgeship.images.variables import load_variables

    credentials = RegistryCredentials.from_variables(load_variables(env_file), username=username, password=password)
    client = connect()
    for image in images:
        digest = push_image(client, image, credentials)
        click.echo(f"pushed {image} {digest}")
