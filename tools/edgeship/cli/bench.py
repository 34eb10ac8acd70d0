"""`edgeship bench`: run the benchmarks in bench/, each with its baseline in the same run."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import click

from edgeship.errors import EdgeshipError
from edgeship.registry import resolve_registry_root

BENCHMARKS = ("scoring", "convert", "hub")


def _fixture(home: Path) -> Path:
    candidates = sorted((home / "cache").glob("fixture-full-*/fixture.json"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise EdgeshipError(f"no reference model under {home / 'cache'}: run 'make demo' (or 'edgeship demo') first")
    return candidates[-1].parent


@click.command(name="bench")
@click.argument("names", nargs=-1, type=click.Choice([*BENCHMARKS, "all"]))
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the demo cached the reference model (default: $EDGESHIP_HOME, else ./.edgeship).")
def cli(names: tuple[str, ...], home: Path | None) -> None:
    """Run benchmarks: scoring, convert, hub (default: all)."""
    from edgeship.demo.run import find_project

    project = find_project(Path.cwd())
    chosen = [n for n in BENCHMARKS if not names or "all" in names or n in names]
    root = (home or resolve_registry_root()).resolve()
    with tempfile.TemporaryDirectory(prefix="edgeship-bench-") as tmp:
        for name in chosen:
            click.echo(f"\n## {name}\n")
            command = [sys.executable, str(project / "bench" / f"bench_{name}.py")]
            if name in ("scoring", "convert"):
                fixture = _fixture(root)
                command.append(str(fixture))
                if name == "scoring":
                    packaged = Path(tmp) / "model"
                    if not packaged.exists():
                        subprocess.run([sys.executable, "-m", "edgeship", "package", "--from-dir", str(fixture),
                                        "--out", str(packaged)], check=True, capture_output=True)
                    command.append(str(packaged))
            if subprocess.run(command, cwd=project, check=False).returncode != 0:
                raise EdgeshipError(f"benchmark {name} failed")
