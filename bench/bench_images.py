"""Module images: sizes, build time cold and warm, and container start to first score.

    python -m bench.bench_images PACKAGED_MODEL_DIR [--repeat 3] [--json]

Needs a Docker engine (DOCKER_HOST) and mmdebstrap for the stand-in base (made once, then reused
by tag; its one-time cost is printed but is not part of either build time). The sentiment module
folder is copied with the packaged model into a temporary folder and built from the repository's
Dockerfile.amd64 on the stand-in base, with no network in the build:

* cold: no layer cache and a fresh wheelhouse (``pip download`` from the warm pip cache);
* warm: the same build again, unchanged (every layer cached, the wheelhouse reused).

Sizes: the module image as the engine reports it, against an image with the seed's TensorFlow
stack on the same base, computed as the base plus the installed files of tensorflow and tf-keras
with their dependency closure (the files each distribution's RECORD lists, as installed in this
environment) plus the seed's model files; building that image would copy ~2 GB per layer under vfs.

Start to first score: ``docker start`` (host network) until ``POST /score`` answers 200, against
the same module started as a local process (``python -m edgeship_sentiment --http``), alternating;
the container's create is timed apart (with vfs storage it copies the whole image).
CPU steal and the load average are printed: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
SEED_STACK = ("tensorflow", "tf-keras")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_times() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return values[7], sum(values)


def closure(names: tuple[str, ...]) -> set[str]:
    """The distributions ``names`` need at run time, themselves included (extras ignored)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = re.split(r"[\s;\[<>=!~(]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        todo += [req for req in (dist.requires or []) if "extra ==" not in req]
    return seen


def installed_bytes(names: set[str]) -> int:
    total = 0
    for name in names:
        dist = metadata.distribution(name)
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                total += path.stat().st_size
    return total


def wait_score(port: int, timeout: float, alive: Any) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the module exited before its first score")
        try:
            answer = requests.post(f"http://127.0.0.1:{port}/score", json={"text": "what a day"}, timeout=2)
            if answer.status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.02)  # polling a port that has no readiness event; 20 ms is the resolution
    raise RuntimeError(f"no score within {timeout:.0f} s")


def container_start(client: Any, tag: str) -> tuple[float, float]:
    """(create, start to first score) in seconds: with vfs storage, create copies the whole image."""
    port = free_port()
    started = time.perf_counter()
    container = client.containers.create(tag, network_mode="host", environment={"HTTP_BIND": f"127.0.0.1:{port}"})
    created = time.perf_counter()
    try:
        container.start()

        def alive() -> bool:
            container.reload()
            return bool(container.status in ("created", "running"))

        wait_score(port, 180, alive)
        return created - started, time.perf_counter() - created
    finally:
        container.remove(force=True)


def process_start(model_dir: Path) -> float:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "edgeship_sentiment", "--http", f"127.0.0.1:{port}", "--model-dir", str(model_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_score(port, 180, lambda: process.poll() is None)
        return time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="a packaged model folder (edgeship package --out)")
    parser.add_argument("--fixture", type=Path, default=None, help="the seed-format model folder (sizes of h5 etc.)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import docker

    try:
        client = docker.from_env(timeout=900)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine means: skip this benchmark
        print(f"skipped: no Docker engine reachable ({str(exc).splitlines()[0][:100]})")
        return 0
    from edgeship.images.base import ensure_base
    from edgeship.images.build import build_image, read_module_json
    from edgeship.images.platforms import platform_named

    amd64 = platform_named("amd64")
    steal0 = cpu_times()
    started = time.perf_counter()
    base, made = ensure_base(client, amd64)
    base_secs = time.perf_counter() - started
    base_size = int(client.images.get(base).attrs["Size"])
    results: dict[str, Any] = {
        "base": base,
        "base_size_bytes": base_size,
        "base_made_secs": round(base_secs, 1) if made else None,
    }
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        folder = Path(tmp) / "sentiment"
        shutil.copytree(
            REPO / "modules" / "sentiment",
            folder,
            ignore=shutil.ignore_patterns("model", ".wheelhouse", "__pycache__", "capture"),
        )
        shutil.copytree(args.model_dir, folder / "model")
        module = read_module_json(folder, {"CONTAINER_REGISTRY_SERVER": "bench.invalid"})
        cold = build_image(client, module, amd64, base, cache=False)
        warm = build_image(client, module, amd64, base)
        results.update(
            {
                "image": cold.tag,
                "image_size_bytes": cold.size_bytes,
                "cold_build_secs": round(cold.seconds, 1),
                "warm_build_secs": round(warm.seconds, 1),
            }
        )
        stack = closure(SEED_STACK)
        seed_files = sum(p.stat().st_size for p in (args.fixture.iterdir() if args.fixture else []) if p.is_file())
        results["tensorflow_image_size_bytes"] = base_size + installed_bytes(stack) + seed_files
        results["tensorflow_stack"] = f"{len(stack)} distributions"
        create_secs, container_secs, process_secs = [], [], []
        for _ in range(args.repeat):
            create, start = container_start(client, cold.tag)
            create_secs.append(create)
            container_secs.append(start)
            process_secs.append(process_start(args.model_dir))
        client.images.remove(cold.tag)
    steal1 = cpu_times()
    results.update(
        {
            "container_create_secs": [round(s, 2) for s in create_secs],
            "container_first_score_secs": [round(s, 2) for s in container_secs],
            "process_first_score_secs": [round(s, 2) for s in process_secs],
            "cpu_steal": round((steal1[0] - steal0[0]) / max(1, steal1[1] - steal0[1]), 3),
            "load_average": os.getloadavg(),
        }
    )
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    mb = 1e6
    module_size, tf_size = results["image_size_bytes"], results["tensorflow_image_size_bytes"]
    print("| what | figure |\n|---|---|")
    print(
        f"| stand-in base `{base}` | {base_size / mb:.0f} MB"
        f"{f' (made now in {base_secs:.0f} s)' if made else ' (reused by tag)'} |"
    )
    print(
        f"| sentiment module image | {module_size / mb:.0f} MB "
        f"({(module_size - base_size) / mb:.0f} MB over the base) |"
    )
    print(
        f"| same base + the seed's TensorFlow stack ({results['tensorflow_stack']}), computed | "
        f"{tf_size / mb:.0f} MB (the module image is {module_size / tf_size:.2f}x of it) |"
    )
    print(f"| build, cold (no layer cache, fresh wheelhouse) | {cold.seconds:.0f} s |")
    print(f"| build, warm (unchanged) | {warm.seconds:.1f} s ({cold.seconds / max(warm.seconds, 0.01):.0f}x faster) |")
    print(
        f"| container create (vfs copies the image; overlay2 does not) | {statistics.median(create_secs):.2f} s "
        f"({min(create_secs):.2f} - {max(create_secs):.2f}) |"
    )
    c, p = statistics.median(container_secs), statistics.median(process_secs)
    print(
        f"| container start to first score (median of {args.repeat}; min - max) | {c:.2f} s "
        f"({min(container_secs):.2f} - {max(container_secs):.2f}) |"
    )
    print(
        f"| process start to first score, same module (baseline) | {p:.2f} s "
        f"({min(process_secs):.2f} - {max(process_secs):.2f}); container / process {c / p:.2f}x |"
    )
    load = " ".join(f"{v:.1f}" for v in results["load_average"])
    print(f"\nCPU steal {results['cpu_steal']:.0%}, load average {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
