"""`edgeship model`: register, list, show, download and delete models in the local registry."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from edgeship.cli._common import print_json, registry_option
from edgeship.errors import InvalidNameError
from edgeship.registry import Registry, parse_model_ref, parse_pairs


@click.group(name="model")
def cli() -> None:
    """Register, list, show, download and delete models in the local registry."""


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", "-n", required=True, help="Model name, e.g. sentiment.")
@click.option("--description", "-d", default=None)
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="A tag (repeatable).")
@click.option("--property", "properties", multiple=True, metavar="K=V", help="A property (repeatable).")
@click.option("--child-path", "child_paths", multiple=True, metavar="P",
              help="Register only this file or folder of PATH (repeatable).")
@registry_option
def register(path: Path, name: str, description: str | None, tags: tuple[str, ...], properties: tuple[str, ...],
             child_paths: tuple[str, ...], registry_root: Path | None) -> None:
    """Register PATH (a folder or a file) as a new version of NAME; prints NAME:VERSION."""
    tag_map = parse_pairs(tags, "tag")
    property_map = parse_pairs(properties, "property")
    record = Registry.open(registry_root).register(path, name, description=description, tags=tag_map,
                                                  properties=property_map, child_paths=child_paths)
    click.echo(record.ref)


@cli.command(name="list")
@click.option("--name", "-n", default=None, help="Only this model's versions.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@registry_option
def list_models(name: str | None, as_json: bool, registry_root: Path | None) -> None:
    """List registered models."""
    records = Registry.open(registry_root).list(name)
    if as_json:
        print_json([record.to_json() for record in records])
        return
    table = Table(title="registered models")
    for column in ("name", "version", "files", "size", "sha256", "tags", "created"):
        table.add_column(column)
    for record in records:
        table.add_row(record.name, str(record.version), str(len(record.files)), f"{record.size:,}",
                      record.sha256[:12], ", ".join(f"{k}={v}" for k, v in record.tags.items()),
                      record.created_at[:19])
    Console().print(table)


@cli.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@registry_option
def show(ref: str, as_json: bool, registry_root: Path | None) -> None:
    """Show NAME[:VERSION] (the latest version without one)."""
    name, version = parse_model_ref(ref)
    record = Registry.open(registry_root).get(name, version)
    if as_json:
        print_json(record.to_json())
        return
    console = Console()
    console.print(f"[bold]{record.ref}[/]  sha256 {record.sha256}")
    console.print(f"description: {record.description or '-'}")
    console.print(f"created: {record.created_at} by {record.created_by}")
    console.print(f"tags: {dict(record.tags)}  properties: {dict(record.properties)}")
    table = Table()
    for column in ("file", "size", "sha256"):
        table.add_column(column)
    for entry in record.files:
        table.add_row(entry.path, f"{entry.size:,}", entry.sha256[:16])
    console.print(table)


@cli.command()
@click.argument("ref")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@registry_option
def download(ref: str, out_dir: Path, registry_root: Path | None) -> None:
    """Write the files of NAME[:VERSION] into --out."""
    name, version = parse_model_ref(ref)
    Registry.open(registry_root).download(name, version, out_dir)
    click.echo(str(out_dir))


@cli.command()
@click.argument("ref")
@registry_option
def delete(ref: str, registry_root: Path | None) -> None:
    """Delete NAME:VERSION (the version is required)."""
    name, version = parse_model_ref(ref)
    if version is None:
        raise InvalidNameError(f"delete needs an explicit version: {name}:N")
    record = Registry.open(registry_root).delete(name, version)
    click.echo(f"deleted {record.ref}")
