"""Conversion benchmark: each converter in its own process, wall time and peak memory (RSS).

    python bench/bench_convert.py MODEL_DIR [--vocab N]   # N: build a random model of N words first

Each converter runs in a fresh subprocess so its peak RSS is its own (``ru_maxrss`` of the
child), not inflated by whatever this process imported before.
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

CHILD = """
import json, sys, time, resource
from pathlib import Path
started = time.perf_counter()
h5 = Path(sys.argv[1]); converter = sys.argv[2]
if converter == "direct":
    from edgeship.packager.direct import convert_direct
    from edgeship.packager.keras_h5 import read_keras_h5
    model = convert_direct(read_keras_h5(h5)).model
else:
    from edgeship.packager.tf2onnx_converter import convert_tf2onnx
    model = convert_tf2onnx(h5).model
import onnx
onnx.save_model(model, sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - started,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def random_model(vocab: int, out: Path) -> Path:
    """The seed's architecture at a chosen vocabulary size, random weights (sizes are what matter)."""
    import os

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tf_keras

    layers = tf_keras.layers
    model = tf_keras.Sequential([
        layers.Embedding(vocab, 300, input_length=300, trainable=False,
                         weights=[np.random.RandomState(0).normal(0, 0.1, (vocab, 300)).astype("float32")]),
        layers.Dropout(0.5), layers.LSTM(100, dropout=0.2, recurrent_dropout=0.2),
        layers.Dense(1, activation="sigmoid"),
    ])
    path = out / f"random-{vocab}.h5"
    model.save(path)
    return path


def measure(h5: Path, converter: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", CHILD, str(h5), converter, str(Path(tmp) / "m.onnx")],
                                capture_output=True, text=True, check=True)
        wall = time.perf_counter() - started
        data: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
        data["wall_seconds"] = wall
        data["onnx_mb"] = (Path(tmp) / "m.onnx").stat().st_size / 1e6
    return data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir", type=Path, nargs="?")
    parser.add_argument("--vocab", type=int, default=None)
    parser.add_argument("--converters", default="direct,tf2onnx")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        h5 = random_model(args.vocab, Path(tmp)) if args.vocab else args.model_dir / "model.h5"
        print(f"model: {h5} ({h5.stat().st_size / 1e6:.1f} MB)")
        for converter in args.converters.split(","):
            row = measure(h5, converter)
            print(f"{converter:8s} convert {row['seconds']:6.2f} s (process {row['wall_seconds']:6.2f} s), "
                  f"peak RSS {row['peak_rss_mb']:7.0f} MB, onnx {row['onnx_mb']:.1f} MB")
    print(f"this process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
