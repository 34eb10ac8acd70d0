"""`edgeship model`: register, list, show, download and delete models; publish and serve them for devices."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal

import click
from rich.console import Console
from rich.table import Table

from edgeship.cli._common import print_json, registry_option
from edgeship.errors import ConfigError, InvalidNameError
from edgeship.registry import Registry, parse_model_ref, parse_pairs


@click.group(name="model")
def cli() -> None:
    """Register, list, show, download and delete models; publish and serve archives for devices."""


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", "-n", required=True, help="Model name, e.g. sentiment.")
@click.option("--description", "-d", default=None)
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="A tag (repeatable).")
@click.option("--property", "properties", multiple=True, metavar="K=V", help="A property (repeatable).")
@click.option(
    "--child-path",
    "child_paths",
    multiple=True,
    metavar="P",
    help="Register only this file or folder of PATH (repeatable).",
)
@registry_option
def register(
    path: Path,
    name: str,
    description: str | None,
    tags: tuple[str, ...],
    properties: tuple[str, ...],
    child_paths: tuple[str, ...],
    registry_root: Path | None,
) -> None:
    """Register PATH (a folder or a file) as a new version of NAME; prints NAME:VERSION."""
    tag_map = parse_pairs(tags, "tag")
    property_map = parse_pairs(properties, "property")
    record = Registry.open(registry_root).register(
        path, name, description=description, tags=tag_map, properties=property_map, child_paths=child_paths
    )
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
        table.add_row(
            record.name,
            str(record.version),
            str(len(record.files)),
            f"{record.size:,}",
            record.sha256[:12],
            ", ".join(f"{k}={v}" for k, v in record.tags.items()),
            record.created_at[:19],
        )
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


def _published_dir(target: str) -> Path:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(target)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme:
        raise ConfigError(
            f"--to takes a folder or a file:// URL, got {target!r} (serve the folder with "
            "'edgeship model serve' and give its address as --base-url)"
        )
    return Path(target)


@cli.command()
@click.argument("ref", required=False)
@click.option("--to", "target", required=True, metavar="DIR_OR_URL", help="The published folder (or file:// URL).")
@click.option(
    "--base-url",
    default=None,
    metavar="URL",
    help="Where devices reach the folder (e.g. 'edgeship model serve'); default: a file:// uri.",
)
@click.option("--converter", type=click.Choice(["auto", "direct", "tf2onnx"]), default="auto", show_default=True)
@click.option("--quantize", type=click.Choice(["int8"]), default=None, help="Ship an int8 (dynamic) model.")
@click.option(
    "--heldout",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Held-out text for the parity gate (as for 'edgeship package').",
)
@click.option("--thresholds", default="0.4,0.7", show_default=True, help="NEGATIVE <= LOW, POSITIVE >= HIGH.")
@click.option(
    "--packaged",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Publish this already packaged folder instead of packaging REF.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {uri, sha256, size, patch} as JSON.")
@registry_option
def publish(
    ref: str | None,
    target: str,
    base_url: str | None,
    converter: Literal["auto", "direct", "tf2onnx"],
    quantize: Literal["int8"] | None,
    heldout: Path | None,
    thresholds: str,
    packaged: Path | None,
    as_json: bool,
    registry_root: Path | None,
) -> None:
    """Package NAME:VERSION (parity gate included) into one content-addressed archive for devices."""
    import tempfile

    from edgeship.publish import publish_folder

    out_dir = _published_dir(target)
    if (ref is None) == (packaged is None):
        raise click.UsageError("give a registered model NAME[:VERSION] or --packaged DIR (one of them)")
    if packaged is not None:
        result = publish_folder(packaged, out_dir, base_url=base_url)
    else:
        from edgeship.cli.package import _thresholds
        from edgeship.packager import PackageOptions
        from edgeship.project import package_registered

        assert ref is not None
        options = PackageOptions(
            converter=converter, quantize=quantize, heldout=heldout, thresholds=_thresholds(thresholds)
        )
        name, version = parse_model_ref(ref)
        # absolute: linked_files makes symlinks to the blobs, which a relative root would break
        registry = Registry.open(registry_root.resolve() if registry_root else None)
        record = registry.get(name, version)
        with tempfile.TemporaryDirectory(prefix="edgeship-publish-") as work:
            folder = Path(work) / "model"
            package_registered(registry, record, folder, options)
            result = publish_folder(folder, out_dir, base_url=base_url)
    if as_json:
        print_json({key: value for key, value in result.to_json().items() if key != "path"})
        return
    click.echo(f"{result.uri}  sha256 {result.sha256}  {result.size:,} bytes")
    click.echo(json.dumps(result.patch))


@cli.command()
@click.option(
    "--dir",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The published folder (default: <registry>/published).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=0, type=click.IntRange(0, 65535), help="0: any free port (printed).")
@registry_option
def serve(root: Path | None, host: str, port: int, registry_root: Path | None) -> None:
    """Serve published model archives read-only over HTTP until interrupted."""
    from edgeship.publish.serve import PublishedServer

    folder = root if root is not None else Registry.open(registry_root).root / "published"
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder of published models ('edgeship model publish --to')")
    try:
        server = PublishedServer(folder, host, port, verbose=True)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    click.echo(f"serving {folder} at {server.url}", err=False)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
