"""`edgeship demo`: the whole path end to end on embedded defaults (what `make demo` runs)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgeship.registry import resolve_registry_root


@click.command(name="demo")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Registry, caches and simulator state (default: $EDGESHIP_HOME, else ./.edgeship).",
)
@click.option(
    "--size",
    type=click.Choice(["full", "small"]),
    default="full",
    show_default=True,
    help="The reference model to train (small: fast, for tests; not accurate).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address of the simulator's hub.")
@click.option("--rate", type=float, default=60.0, show_default=True, help="Tweets per second from the source.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON at the end.")
def cli(home: Path | None, size: str, host: str, rate: float, as_json: bool) -> None:
    """Fixture -> registry -> ONNX package -> manifest -> simulator -> scored tweets, offline."""
    from edgeship.demo import DemoOptions, run_demo
    from edgeship.project import find_project

    project = find_project()  # the working folder's checkout, else the one edgeship runs from
    summary = run_demo(
        DemoOptions(
            project=project,
            home=(home or resolve_registry_root()).resolve(),
            fixture_size=size,
            host=host,
            rate_per_sec=rate,
        )
    )
    if as_json:
        click.echo(json.dumps(summary.to_json()))
