"""`edgeship bench`: run the benchmarks in bench/, each with its baseline in the same run.

Every benchmark's table goes to the terminal as it runs and, with the machine and the versions
it ran on, to ``bench/results.md`` (``--results``).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import click

from edgeship._time import utc_timestamp
from edgeship.errors import EdgeshipError
from edgeship.registry import resolve_registry_root

BENCHMARKS = ("scoring", "coldstart", "convert", "hub", "e2e", "profile", "serving", "model_update", "images")
REAL_VOCABULARY = 290_419  # the seed's word2vec vocabulary
VERSIONED = ("onnxruntime", "numpy", "tensorflow", "tf-keras", "tf2onnx", "onnx", "azure-iot-device", "paho-mqtt")


def _fixture(home: Path) -> Path:
    candidates = sorted((home / "cache").glob("fixture-full-*/fixture.json"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise EdgeshipError(f"no reference model under {home / 'cache'}: run 'make demo' (or 'edgeship demo') first")
    return candidates[-1].parent


def _package(fixture: Path, out: Path, *extra: str) -> Path:
    if not (out / "model.json").is_file():
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "edgeship",
                "package",
                "--from-dir",
                str(fixture),
                "--out",
                str(out),
                "--converter",
                "direct",
                *extra,
            ],
            check=False,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise EdgeshipError(f"packaging the reference model for the benchmarks failed: {last}")
    return out


def _cpu_times() -> tuple[int, int] | None:
    """(steal, total) jiffies of all CPUs since boot, from /proc/stat (None where there is none)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (values[7] if len(values) > 7 else 0), sum(values)


def _steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> str:
    """On a VM, the hypervisor's share of CPU time taken from us: figures under steal are lower."""
    if before is None or after is None or after[1] <= before[1]:
        return ""
    return f" (CPU steal during this benchmark: {(after[0] - before[0]) / (after[1] - before[1]):.0%})"


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = []
    for name in VERSIONED:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    mosquitto = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    broker = ""
    if mosquitto:
        out = subprocess.run([mosquitto, "-h"], capture_output=True, text=True, check=False).stdout
        broker = ", " + (out.splitlines() or ["mosquitto"])[0].replace(" running on", "")
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; {', '.join(versions)}{broker}"
    )


@click.command(name="bench")
@click.argument("names", nargs=-1, type=click.Choice([*BENCHMARKS, "all"]))
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the demo cached the reference model (default: $EDGESHIP_HOME, else ./.edgeship).",
)
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the results (default: bench/results.md in the project).",
)
@click.option("--quick", is_flag=True, help="Fewer samples and no real-size conversion (a smoke run, minutes).")
def cli(names: tuple[str, ...], home: Path | None, results: Path | None, quick: bool) -> None:
    """Run benchmarks: scoring, coldstart, convert, hub, e2e, profile, serving, model_update, images (default: all)."""
    from edgeship.project import find_project

    project = find_project(Path.cwd())
    chosen = [n for n in BENCHMARKS if not names or "all" in names or n in names]
    root = (home or resolve_registry_root()).resolve()
    needs_fixture = {"scoring", "coldstart", "convert", "e2e", "profile", "serving", "images"}
    fixture = _fixture(root) if needs_fixture & set(chosen) else None
    results_path = results or project / "bench" / "results.md"
    sections = [
        f"# Benchmark results\n\n{utc_timestamp()}, `edgeship bench "
        f"{' '.join(chosen)}{' --quick' if quick else ''}`\n\nMachine: {_machine()}\n"
    ]
    with tempfile.TemporaryDirectory(prefix="edgeship-bench-") as tmp:
        for name in chosen:
            click.echo(f"\n## {name}\n")
            # bench/ is a package run from the project root (cwd): its scripts share code as bench.* and tests.support.*
            command = [sys.executable, "-u", "-m", f"bench.bench_{name}"]
            if fixture is not None and name in ("scoring", "coldstart"):
                command += [
                    str(fixture),
                    str(_package(fixture, Path(tmp) / "fp32")),
                    str(_package(fixture, Path(tmp) / "int8", "--quantize", "int8")),
                ]
                command += ["--n", "50", "--repeat", "2"] if quick and name == "scoring" else []
                command += ["--repeat", "2"] if quick and name == "coldstart" else []
            elif fixture is not None and name == "convert":
                command += [str(fixture)] + ([] if quick else ["--vocab", str(REAL_VOCABULARY)])
            elif fixture is not None and name == "e2e":
                command += [
                    str(_package(fixture, Path(tmp) / "fp32")),
                    str(fixture / "heldout.jsonl"),
                    "--int8-dir",
                    str(_package(fixture, Path(tmp) / "int8", "--quantize", "int8")),
                ]
                command += (
                    ["--messages", "500", "--batched-messages", "20", "--latency-messages", "100", "--repeat", "1"]
                    if quick
                    else []
                )
            elif fixture is not None and name == "profile":
                command += [str(_package(fixture, Path(tmp) / "fp32")), str(fixture / "heldout.jsonl")]
                command += ["--repeat", "5"] if quick else []
            elif name == "model_update":
                model_fixture = fixture or _fixture(root)
                command += [
                    str(_package(model_fixture, Path(tmp) / "fp32")),
                    str(_package(model_fixture, Path(tmp) / "int8", "--quantize", "int8")),
                    str(model_fixture / "heldout.jsonl"),
                ] + (["--swaps", "1"] if quick else [])
            elif fixture is not None and name == "serving":
                command += [str(fixture), str(_package(fixture, Path(tmp) / "fp32"))]
                command += (
                    ["--duration", "3", "--keras-requests", "10", "--keras-rounds", "1", "--labels", "20"]
                    if quick
                    else []
                )
            elif fixture is not None and name == "images":  # needs a Docker engine; skips without one
                command += [str(_package(fixture, Path(tmp) / "fp32")), "--fixture", str(fixture)]
                command += ["--repeat", "1"] if quick else []
            elif name == "hub" and quick:
                command += ["--messages", "500", "--latency-messages", "100", "--repeat", "1"]
            cpu_before = _cpu_times()
            process = subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, text=True)
            assert process.stdout is not None
            lines = []
            for line in process.stdout:
                click.echo(line, nl=False)
                lines.append(line)
            if process.wait() != 0:
                raise EdgeshipError(f"benchmark {name} failed (exit {process.returncode})")
            steal = _steal_share(cpu_before, _cpu_times())
            click.echo(steal.strip())
            sections.append(
                f"## {name}\n\n`{' '.join(Path(c).name if '/' in c else c for c in command[2:])}`"
                f"{steal}\n\n" + "".join(lines).strip() + "\n"
            )
    results_path.write_text("\n".join(sections), encoding="utf-8")
    click.echo(f"\nresults written to {results_path}")
