"""`edgeship service`: list, show, read the logs of, update and delete services started by deploy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import click
from rich.console import Console
from rich.table import Table

from edgeship.cli._common import registry_option
from edgeship.registry import resolve_registry_root
from edgeship.services import ServiceStore
from edgeship.services.launch import refresh_state


@click.group(name="service")
def cli() -> None:
    """List, inspect, read logs of and delete services started by deploy."""


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True)
@registry_option
def list_services(as_json: bool, registry_root: Path | None) -> None:
    """Every service with its current state."""
    records = [refresh_state(r) for r in ServiceStore(resolve_registry_root(registry_root)).list()]
    if as_json:
        click.echo(json.dumps([r.to_json() for r in records], indent=2))
        return
    table = Table(title="services")
    for column in ("name", "state", "model", "compute", "scoring URI", "pid"):
        table.add_column(column)
    for r in records:
        table.add_row(r.name, r.state, r.model, r.compute_type, r.scoring_uri, str(r.pid))
    Console().print(table)


@cli.command()
@click.argument("name")
@registry_option
def show(name: str, registry_root: Path | None) -> None:
    """One service as JSON."""
    record = refresh_state(ServiceStore(resolve_registry_root(registry_root)).load(name))
    click.echo(json.dumps(record.to_json(), indent=2))


@cli.command()
@click.argument("name")
@click.option("--tail", type=click.IntRange(min=0), default=0, help="Only the last N lines (0: all).")
@registry_option
def logs(name: str, tail: int, registry_root: Path | None) -> None:
    """The service's output."""
    store = ServiceStore(resolve_registry_root(registry_root))
    store.load(name)
    path = store.log_path(name)
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    click.echo("\n".join(lines[-tail:] if tail else lines))


@cli.command()
@click.argument("name")
@registry_option
def delete(name: str, registry_root: Path | None) -> None:
    """Stop the service's processes, free its port and remove it."""
    record = ServiceStore(resolve_registry_root(registry_root)).delete(name)
    click.echo(f"deleted {record.name}")


@cli.command()
@click.argument("name")
@click.option("--model", "-m", "model_ref", required=True, metavar="NAME:VERSION", help="The registered model.")
@click.option("--quantize", type=click.Choice(["int8"]), default=None, help="Ship an int8 (dynamic) model.")
@registry_option
def update(name: str, model_ref: str, quantize: Literal["int8"] | None, registry_root: Path | None) -> None:
    """Swap the model of a running LOCAL service without a restart (verified as a twin update)."""
    from edgeship.registry import Registry
    from edgeship.services.update import update_local_service

    root = resolve_registry_root(registry_root).resolve()
    record = update_local_service(ServiceStore(root), name, Registry.open(root), model_ref, quantize=quantize)
    click.echo(f"{record.name} now serves {record.model}")
