"""Conversion benchmark: each converter in its own process, wall time and peak memory (RSS), on
the fixture and on a model of the real vocabulary size (290,419 words x 300, random weights).

    python -m bench.bench_convert MODEL_DIR [--vocab 290419] [--cap-gb 12] [--json OUT]
    python -m bench.bench_convert --vocab N  # only the random model of N words

Each converter runs in a fresh subprocess so its peak RSS is its own (``ru_maxrss`` of the
child), not inflated by whatever this process imported before. A watchdog samples the child's
RSS and stops it above ``--cap-gb``: tf2onnx needs about 21 GB for the real-size model (measured
once, ``shared/notes``), which would take this 24 GB machine down with it; a capped run is
reported as "over the cap after N s", a lower bound.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHILD = Path(__file__).resolve().parent / "programs" / "convert_child.py"


def random_model(vocab: int, out: Path) -> Path:
    """The seed's architecture at a chosen vocabulary size, random weights (sizes are what matter)."""
    import os

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tf_keras

    layers = tf_keras.layers
    model = tf_keras.Sequential(
        [
            layers.Embedding(
                vocab,
                300,
                input_length=300,
                trainable=False,
                weights=[np.random.RandomState(0).normal(0, 0.1, (vocab, 300)).astype("float32")],
            ),
            layers.Dropout(0.5),
            layers.LSTM(100, dropout=0.2, recurrent_dropout=0.2),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    path = out / f"random-{vocab}.h5"
    model.save(path)
    return path


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(h5: Path, converter: str, cap_mb: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(h5), converter, str(Path(tmp) / "m.onnx")],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        peak, capped = 0.0, False
        while child.poll() is None:
            peak = max(peak, _rss_mb(child.pid))
            if peak > cap_mb:
                child.kill()
                capped = True
                break
            time.sleep(0.1)  # the watchdog's sampling period
        out, _ = child.communicate()
        wall = time.perf_counter() - started
        if capped:
            return {"capped": True, "seconds": wall, "wall_seconds": wall, "peak_rss_mb": peak, "onnx_mb": None}
        if child.returncode != 0:
            raise RuntimeError(f"{converter} failed on {h5} (exit {child.returncode})")
        data: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        data.update(capped=False, wall_seconds=wall, onnx_mb=(Path(tmp) / "m.onnx").stat().st_size / 1e6)
    return data


def table(title: str, h5: Path, converters: list[str], cap_mb: float) -> dict[str, dict[str, Any]]:
    rows = {converter: measure(h5, converter, cap_mb) for converter in converters}
    print(f"\n{title}: {h5.name}, {h5.stat().st_size / 1e6:.1f} MB h5\n")
    print("| converter | convert s | process s | peak RSS MB | ONNX MB | time vs direct | memory vs direct |")
    print("|---|---|---|---|---|---|---|")
    direct = rows.get("direct")
    for converter, row in rows.items():
        over = "> " if row["capped"] else ""
        onnx_mb = f"{row['onnx_mb']:.1f}" if row["onnx_mb"] is not None else f"over the {cap_mb / 1024:.0f} GB cap"
        time_ratio = f"{over}{row['seconds'] / direct['seconds']:.1f}x" if direct else ""
        memory_ratio = f"{over}{row['peak_rss_mb'] / direct['peak_rss_mb']:.1f}x" if direct else ""
        print(
            f"| {converter} | {over}{row['seconds']:.2f} | {row['wall_seconds']:.2f} | "
            f"{over}{row['peak_rss_mb']:,.0f} | {onnx_mb} | {time_ratio} | {memory_ratio} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", type=Path, nargs="?")
    parser.add_argument("--vocab", type=int, default=None, help="also convert a random model of this many words")
    parser.add_argument("--converters", default="direct,tf2onnx")
    parser.add_argument("--cap-gb", type=float, default=12.0, help="stop a converter whose RSS passes this")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    converters = args.converters.split(",")
    cap_mb = args.cap_gb * 1024
    results: dict[str, Any] = {}
    if args.model_dir:
        results["fixture"] = table("fixture", args.model_dir / "model.h5", converters, cap_mb)
    if args.vocab:
        with tempfile.TemporaryDirectory() as tmp:
            h5 = random_model(args.vocab, Path(tmp))
            results["real_size"] = table(
                f"real vocabulary size ({args.vocab:,} words x 300, random weights)", h5, converters, cap_mb
            )
    print(f"\nthis process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
