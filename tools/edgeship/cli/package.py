"""`edgeship package`: a registered Keras model -> an ONNX edge model folder, parity-gated."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click
from rich.console import Console

from edgeship.cli._common import registry_option
from edgeship.errors import ConfigError
from edgeship.packager import ModelSource, PackageOptions, package_model
from edgeship.packager.display import print_result
from edgeship.project import package_registered
from edgeship.registry import Registry, parse_model_ref

DEFAULT_OUT = Path("modules/sentiment/model")


def _thresholds(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(f"--thresholds takes LOW,HIGH (e.g. 0.4,0.7), got {text!r}") from None
    if not 0 <= low <= high <= 1:
        raise ConfigError(f"--thresholds must satisfy 0 <= LOW <= HIGH <= 1, got {text!r}")
    return low, high


@click.command(name="package")
@click.argument("ref", required=False)
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT, show_default=True
)
@click.option("--converter", type=click.Choice(["auto", "direct", "tf2onnx"]), default="auto", show_default=True)
@click.option("--quantize", type=click.Choice(["int8"]), default=None, help="Ship an int8 (dynamic) model.")
@click.option(
    "--heldout",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Held-out text for the parity gate: JSON lines with text (and label) or plain lines.",
)
@click.option("--thresholds", default="0.4,0.7", show_default=True, help="NEGATIVE <= LOW, POSITIVE >= HIGH.")
@click.option(
    "--from-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Package a model folder directly instead of a registered model.",
)
@registry_option
def cli(
    ref: str | None,
    out_dir: Path,
    converter: Literal["auto", "direct", "tf2onnx"],
    quantize: Literal["int8"] | None,
    heldout: Path | None,
    thresholds: str,
    from_dir: Path | None,
    registry_root: Path | None,
) -> None:
    """Convert NAME[:VERSION] from the registry to model.onnx + tokenizer.json + model.json."""
    options = PackageOptions(
        converter=converter, quantize=quantize, heldout=heldout, thresholds=_thresholds(thresholds)
    )
    console = Console(stderr=True)
    if (ref is None) == (from_dir is None):
        raise click.UsageError("give a registered model NAME[:VERSION] or --from-dir PATH (one of them)")
    with console.status("packaging") as status:

        def step(text: str) -> None:
            status.update(text)
            console.log(text)

        if from_dir is not None:
            from edgeship.registry.content import collect_files, content_sha256, file_sha256

            files = {f.relative_path: f.absolute_path for f in collect_files(from_dir)}
            digest = content_sha256([(name, file_sha256(path)) for name, path in files.items()])
            source = ModelSource(files, from_dir.resolve().name, None, digest)
            result = package_model(source, out_dir, options, step)
        else:
            assert ref is not None
            name, version = parse_model_ref(ref)
            registry = Registry.open(registry_root)
            result = package_registered(registry, registry.get(name, version), out_dir, options, step)
    print_result(Console(), result)
