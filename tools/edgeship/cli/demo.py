"""`edgeship demo`: the whole path end to end on embedded defaults.

Until every part has landed it runs what exists and says plainly what is still to come.
"""

from __future__ import annotations

import importlib

import click
from rich.console import Console
from rich.table import Table

from edgeship.cli.main import COMMANDS

# The demo's steps, in order, with the command group each needs and the issue that brings it.
STEPS: list[tuple[str, str, int]] = [
    ("build the reference model folder (seed format)", "fixture", 3),
    ("register it in the local registry", "model", 3),
    ("package it to ONNX behind the parity gate", "package", 3),
    ("generate and validate the deployment manifest", "manifest", 6),
    ("run the deployment in the edge runtime simulator", "sim", 5),
    ("score tweets end to end and summarise", "demo", 7),
]


def _available(group: str) -> bool:
    if group == "demo":
        return False
    module = importlib.import_module(COMMANDS[group][0])
    return not getattr(module.cli, "edgeship_pending", False)


@click.command(name="demo")
def cli() -> None:
    """Run the whole path end to end on embedded defaults."""
    console = Console()
    table = Table(title="edgeship demo: the path of a model")
    table.add_column("#", justify="right")
    table.add_column("step")
    table.add_column("state")
    for index, (step, group, issue) in enumerate(STEPS, start=1):
        state = "[green]ready[/]" if _available(group) else f"[yellow]still to come (issue #{issue})[/]"
        table.add_row(str(index), step, state)
    console.print(table)
    console.print("The end-to-end run arrives with issue #7; the steps marked ready work on their own now.")
