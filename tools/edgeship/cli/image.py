"""`edgeship image base`: the stand-in base image, made from Debian packages where none can be pulled."""

from __future__ import annotations

import click

from edgeship.images import PLATFORMS, platform_named


@click.group(name="image")
def cli() -> None:
    """Base images for module builds."""


@cli.command(name="base")
@click.option(
    "--platform",
    "platform_name",
    type=click.Choice(sorted(p for p in PLATFORMS if p != "arm32v7")),
    default="amd64",
    show_default=True,
)
@click.option("--rebuild", is_flag=True, help="Make it again even when the tag exists.")
def base_command(platform_name: str, rebuild: bool) -> None:
    """Make (or reuse) a stand-in for python:3.11-slim-bookworm and print its tag."""
    from edgeship.images.base import ensure_base
    from edgeship.images.engine import connect

    tag, made = ensure_base(connect(), platform_named(platform_name), rebuild=rebuild)
    click.echo(f"{'made' if made else 'reused'} {tag}", err=True)
    click.echo(tag)
