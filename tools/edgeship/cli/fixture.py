"""`edgeship fixture`: build reference model folders in the seed's format (trains with TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click
from rich.console import Console
from rich.table import Table

from edgeship.registry import resolve_registry_root


def default_data_cache() -> Path:
    return resolve_registry_root() / "cache" / "data"


@click.group(name="fixture")
def cli() -> None:
    """Build reference model folders in the seed's format (trains with TensorFlow)."""


@cli.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--size",
    type=click.Choice(["small", "full"]),
    default="full",
    show_default=True,
    help="small: a fast deterministic variant for tests; full: all VADER tweets.",
)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--data-cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the tweet archives are kept (default: <EDGESHIP_HOME or .edgeship>/cache/data).",
)
def sentiment(out_dir: Path, size: Literal["small", "full"], seed: int, data_cache: Path | None) -> None:
    """Train the seed's Twitter sentiment model into OUT_DIR: model.h5, model.w2v, tokenizer.pkl, encoder.pkl."""
    from edgeship.fixture import FixtureSpec, build_fixture

    report = build_fixture(out_dir, FixtureSpec.for_size(size, seed), data_cache or default_data_cache())
    table = Table(title=f"reference model ({size}) in {out_dir}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("training tweets", str(report.train_tweets))
    table.add_row("held-out tweets", str(report.heldout_tweets))
    table.add_row("vocabulary", f"{report.vocabulary:,}")
    table.add_row(f"majority class ({report.majority_label})", f"{report.majority_share:.1%}")
    table.add_row("held-out accuracy (Keras)", f"{report.heldout_accuracy:.1%}")
    table.add_row("training time", f"{report.train_seconds:.0f} s")
    Console().print(table)
