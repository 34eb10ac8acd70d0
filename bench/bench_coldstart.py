"""Cold start and sizes: process start to first score, the seed's Keras path vs the module (fp32,
int8), and what each path puts on a device (model artifacts, installed runtime).

    python -m bench.bench_coldstart FIXTURE_DIR PACKAGED_FP32 PACKAGED_INT8 [--repeat 5] [--json]

Each cold start is a fresh interpreter (``python programs/coldstart_*.py``), timed from just before it is spawned to
the line it prints after its first score, so interpreter start, imports, model load and the first
inference all count. The paths alternate run by run so a machine hiccup hits both. Peak RSS is the
child's own (``ru_maxrss``). Installed footprint: the bytes of every file each distribution
installed (its RECORD), over the dependency closure of what each path needs at run time.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

TEXT = "I love this new phone, the battery lasts all day"
PROGRAMS = Path(__file__).resolve().parent / "programs"
KERAS_CHILD = PROGRAMS / "coldstart_keras.py"
MODULE_CHILD = PROGRAMS / "coldstart_module.py"

# What each path needs installed to score: the seed's service loads the model with TensorFlow's
# Keras 2; the module installs its requirements.txt (scoring plus its IoT Hub, MQTT, HTTP faces).
SEED_RUNTIME = ("tensorflow", "tf-keras")
MODULE_REQUIREMENTS = Path(__file__).resolve().parent.parent / "modules" / "sentiment" / "requirements.txt"


def module_runtime() -> tuple[str, ...]:
    lines = MODULE_REQUIREMENTS.read_text().splitlines()
    return tuple(line.split("==")[0].strip() for line in lines if line.strip() and not line.startswith("#"))


def cold_start(program: Path, folder: Path) -> tuple[float, float, float]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(program), str(folder), TEXT], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    seconds = time.perf_counter() - started
    score, rss_kb = out.split()[-2:]
    return seconds, float(score), int(rss_kb) / 1024


def _requirement_names(dist: metadata.Distribution) -> list[str]:
    names = []
    for requirement in dist.requires or []:
        if "extra ==" in requirement:
            continue
        marker = requirement.split(";", 1)
        if len(marker) == 2 and (
            "platform_system" in marker[1] or "sys_platform" in marker[1] or "python_version <" in marker[1]
        ):
            continue  # Windows / macOS / old-Python only
        match = re.match(r"[A-Za-z0-9_.\-]+", requirement)
        if match:
            names.append(match.group(0))
    return names


def closure(roots: tuple[str, ...]) -> dict[str, int]:
    """Installed bytes per distribution over the run-time dependency closure of ``roots``."""
    seen: dict[str, int] = {}
    todo = list(roots)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            seen[name] = 0
            continue
        total = 0
        for file in dist.files or []:
            path = Path(str(file.locate()))
            if path.is_file():
                total += path.stat().st_size
        seen[name] = total
        todo.extend(_requirement_names(dist))
    return seen


def artifact_sizes(fixture: Path, fp32: Path, int8: Path) -> dict[str, int]:
    def size(folder: Path, names: tuple[str, ...]) -> int:
        return sum((folder / n).stat().st_size for n in names)

    packaged = ("model.onnx", "tokenizer.json", "model.json")
    return {
        "seed: model.h5 + tokenizer.pkl + encoder.pkl": size(fixture, ("model.h5", "tokenizer.pkl", "encoder.pkl")),
        "module fp32: model.onnx + tokenizer.json + model.json": size(fp32, packaged),
        "module int8: model.onnx + tokenizer.json + model.json": size(int8, packaged),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("fixture_dir", type=Path)
    parser.add_argument("fp32_dir", type=Path)
    parser.add_argument("int8_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    paths = {
        "seed path: tf_keras load_model + pickle + predict": (KERAS_CHILD, args.fixture_dir),
        "module fp32: onnxruntime + padding skip": (MODULE_CHILD, args.fp32_dir),
        "module int8: onnxruntime + padding skip": (MODULE_CHILD, args.int8_dir),
    }
    runs: dict[str, list[tuple[float, float, float]]] = {label: [] for label in paths}
    for _ in range(args.repeat):
        for label, (code, folder) in paths.items():
            runs[label].append(cold_start(code, folder))

    print(f"cold start, process spawn to first score ({args.repeat} runs each, alternating)\n")
    print("| path | median s | min - max s | peak RSS MB | score | vs seed |")
    print("|---|---|---|---|---|---|")
    seed_median = statistics.median(r[0] for r in next(iter(runs.values())))
    results: dict[str, object] = {"cold_start": {}}
    for label, samples in runs.items():
        seconds = [s[0] for s in samples]
        median = statistics.median(seconds)
        rss = statistics.median(s[2] for s in samples)
        print(
            f"| {label} | {median:.2f} | {min(seconds):.2f} - {max(seconds):.2f} | {rss:,.0f} | "
            f"{samples[0][1]:.4f} | {seed_median / median:.1f}x |"
        )
        results["cold_start"][label] = {  # type: ignore[index]
            "median_s": median,
            "min_s": min(seconds),
            "max_s": max(seconds),
            "peak_rss_mb": rss,
            "ratio": seed_median / median,
        }

    artifacts = artifact_sizes(args.fixture_dir, args.fp32_dir, args.int8_dir)
    print("\n| model artifacts | MB | vs seed |")
    print("|---|---|---|")
    seed_bytes = next(iter(artifacts.values()))
    for label, size in artifacts.items():
        print(
            f"| {label} | {size / 1e6:.2f} | {seed_bytes / size:.1f}x smaller |"
            if size != seed_bytes
            else f"| {label} | {size / 1e6:.2f} | 1x |"
        )
    seed = closure(SEED_RUNTIME)
    module_roots = module_runtime()
    module = closure(module_roots)
    seed_total, module_total = sum(seed.values()), sum(module.values())
    print("\n| installed runtime (dependency closure) | distributions | MB | vs seed |")
    print("|---|---|---|---|")
    print(f"| seed: {' + '.join(SEED_RUNTIME)} | {len(seed)} | {seed_total / 1e6:,.0f} | 1x |")
    print(
        f"| module: requirements.txt ({', '.join(module_roots)}) | {len(module)} | {module_total / 1e6:,.0f} | "
        f"{seed_total / module_total:.1f}x smaller |"
    )
    largest = sorted(seed.items(), key=lambda kv: -kv[1])[:4]
    print("\nlargest in the seed's closure: " + ", ".join(f"{n} {b / 1e6:,.0f} MB" for n, b in largest))
    results["artifacts_bytes"] = artifacts
    results["runtime_bytes"] = {"seed": seed, "module": module}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
