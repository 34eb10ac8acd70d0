"""A packaging result as rich tables: what ``edgeship package`` and ``edgeship demo`` print."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from edgeship.packager.pipeline import PackageResult


def print_result(console: Console, result: PackageResult) -> None:
    table = Table(title=f"parity gate ({result.converter}) -> {result.out_dir}")
    for column in ("variant", "texts", "max |diff|", "label agreement", "accuracy keras", "accuracy onnx", "gate"):
        table.add_column(column, justify="right")
    for report in result.parity:
        table.add_row(
            report.variant,
            str(report.samples),
            f"{report.max_abs_diff:.2e}",
            f"{report.label_agreement:.2%}",
            "-" if report.keras_accuracy is None else f"{report.keras_accuracy:.2%}",
            "-" if report.onnx_accuracy is None else f"{report.onnx_accuracy:.2%}",
            "[green]pass[/]" if report.passed else "[red]FAIL[/]",
        )
    console.print(table)
    sizes = ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in result.sizes.items())
    console.print(f"sizes: {sizes}; conversion {result.conversion_seconds:.2f} s; peak RSS {result.peak_rss_mb:.0f} MB")
