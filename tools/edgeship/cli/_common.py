"""Options and output helpers shared by command groups."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])


def registry_option(func: F) -> F:
    option = click.option(
        "--registry",
        "registry_root",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Registry root (default: $EDGESHIP_HOME, else ./.edgeship).",
    )
    return option(func)


def print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))
