"""Model updates through the twin: patch to first result of the new version, and the module's memory.

    python -m bench.bench_model_update FP32_DIR INT8_DIR TWEETS_JSONL [--swaps 3] [--rate 100] [--json OUT]

The simulator's hub (in this process), a source module sending one tweet per message at
``--rate`` and the real sentiment module (``main.py``), all with the real SDK over TLS on
loopback. FP32_DIR and INT8_DIR are packaged models; they are published here as ``sentiment:1``
and ``sentiment:2`` (a copy of each model.json renamed so, then ``edgeship.publish``) and served
by the read-only server of ``edgeship model serve`` on a free loopback port.

Measured, while tweets stream: the time from the desired-property patch to the first result on
``$upstream`` whose ``model`` property names the new version (``--swaps`` times each way), the
largest send-to-``$upstream`` latency during a swap against the steady p50, and the module's
resident memory: the kernel's peak (``VmHWM``) before the first swap and after the last one, and
the largest ``VmRSS`` sampled every 5 ms during the swaps. Every tweet is counted: a lost one or
an error reply fails the run.

Baseline, in the same run: today's way to change the model, a new module process with the new
model baked in (what a new image amounts to on the device, without the image pull): SIGTERM,
start, and the time from the stop to the first result of the new process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

ROUTES = {
    "tweets": 'FROM /messages/modules/source/outputs/tweets INTO BrokeredEndpoint("/modules/sentiment/inputs/input1")',
    "scored": "FROM /messages/modules/sentiment/outputs/output1 INTO $upstream",
    "errors": "FROM /messages/modules/sentiment/outputs/errors INTO $upstream",
}


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def _cpu_times() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return values[7], sum(values)


def _steal(before: tuple[int, int], after: tuple[int, int]) -> str:
    return f"{(after[0] - before[0]) / max(1, after[1] - before[1]):.0%}"


def _as_version(packaged: Path, out: Path, version: int) -> Path:
    shutil.copytree(packaged, out)
    from dataclasses import replace

    from edgeship_sentiment.model_spec import ModelSpec

    spec = ModelSpec.read(out / "model.json")
    replace(spec, name="sentiment", version=version, source=f"sentiment:{version}").write(out / "model.json")
    return out


class Stream:
    """A source module sending tweets at a fixed rate; arrivals on $upstream timed as they come."""

    def __init__(self, hub: Any, peer: Any, tweets: list[str], rate: float) -> None:
        self.hub, self.peer, self.tweets, self.rate = hub, peer, tweets, rate
        self.sent_at: dict[str, float] = {}
        self.arrivals: list[tuple[float, str, str, str]] = []  # (time, correlation id, output, model)
        self._stop = threading.Event()
        self._seq = 0
        self._sender = threading.Thread(target=self._send, daemon=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self.changed = threading.Condition()

    def start(self) -> Stream:
        self._sender.start()
        self._reader.start()
        return self

    def _send(self) -> None:
        interval, started, i = 1.0 / self.rate, time.perf_counter(), 0
        while not self._stop.is_set():
            ident = f"t{i}"
            self.sent_at[ident] = time.perf_counter()
            self.peer.command(
                op="send", output="tweets", body={"text": self.tweets[i % len(self.tweets)]}, message_id=ident
            )
            i += 1
            delay = started + i * interval - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)  # pacing the load, not synchronising anything

    def _read(self) -> None:
        while not self._stop.is_set() or len(self.arrivals) < len(self.sent_at):
            records = self.hub.call(self.hub.hub.wait_upstream(self._seq, 1.0), 10)
            now = time.perf_counter()
            with self.changed:
                for record in records:
                    self._seq = max(self._seq, record.seq)
                    self.arrivals.append(
                        (
                            now,
                            record.system_properties.get("correlationId", ""),
                            record.output,
                            record.properties.get("model", ""),
                        )
                    )
                self.changed.notify_all()
            if self._stop.is_set() and not records:
                return

    def first_of(self, model: str, after: float, timeout: float = 120) -> float:
        with self.changed:
            found = self.changed.wait_for(
                lambda: next((t for t, _, _, m in self.arrivals if m == model and t > after), None), timeout
            )
        if found is None:
            raise RuntimeError(f"no result of {model} within {timeout} s")
        return float(found)

    def stop(self) -> None:
        self._stop.set()
        self._sender.join(10)

    def drain(self, timeout: float = 120) -> None:
        with self.changed:
            self.changed.wait_for(lambda: len(self.arrivals) >= len(self.sent_at), timeout)
        self._reader.join(timeout)


def latency_ms(stream: Stream, start: float, end: float) -> list[float]:
    return [
        (t - stream.sent_at[c]) * 1000
        for t, c, _, _ in stream.arrivals
        if c in stream.sent_at and start <= stream.sent_at[c] <= end
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fp32_dir", type=Path)
    parser.add_argument("int8_dir", type=Path)
    parser.add_argument("tweets", type=Path)
    parser.add_argument("--swaps", type=int, default=3, help="swaps each way (v1 -> v2 and back)")
    parser.add_argument("--rate", type=float, default=100.0, help="tweets per second while swapping")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from edgeship.publish import publish_folder
    from edgeship.publish.serve import PublishedServer
    from tests.support.hub import HubThread, Peer, sentiment_module

    cpu_before = _cpu_times()
    tweets = [json.loads(line)["text"] for line in args.tweets.read_text(encoding="utf-8").splitlines() if line]
    with tempfile.TemporaryDirectory(prefix="bench-model-update-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        v1_dir = _as_version(args.fp32_dir, work / "v1", 1)
        v2_dir = _as_version(args.int8_dir, work / "v2", 2)
        server = PublishedServer(work / "pub")
        server.start_background()
        stack.callback(server.server_close)
        stack.callback(server.shutdown)
        patches = {
            "sentiment:1": publish_folder(v1_dir, work / "pub", base_url=server.url).patch,
            "sentiment:2": publish_folder(v2_dir, work / "pub", base_url=server.url).patch,
        }
        hub = HubThread(work / "sim", ["sentiment", "source"], ROUTES, desired={"sentiment": {"max_batch": 16}}).start()
        stack.callback(hub.stop)
        module_cm = sentiment_module(hub, v1_dir, work, MODEL_STORE=str(work / "store"))
        module = module_cm.__enter__()
        peer = Peer(hub, "source")
        stack.callback(peer.close)
        peer.expect("ready")
        stream = Stream(hub, peer, tweets, args.rate).start()
        stream.first_of("sentiment:1", 0.0)
        steady_from = time.perf_counter()
        time.sleep(2)  # a steady stretch for the baseline latency; pacing, not synchronisation
        steady_to = time.perf_counter()
        memory_before = _memory(module.pid)
        peak_rss = [0]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.005):
                try:
                    peak_rss[0] = max(peak_rss[0], _memory(module.pid)["VmRSS"])
                except (OSError, KeyError):
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        swaps: dict[str, list[float]] = {"sentiment:2": [], "sentiment:1": []}
        worst: list[float] = []
        for _ in range(args.swaps):
            for version in ("sentiment:2", "sentiment:1"):
                patched = time.perf_counter()
                hub.call(hub.hub.patch_desired("sentiment", patches[version]))
                first = stream.first_of(version, patched)
                swaps[version].append(first - patched)
                settle = first + 0.5
                stream.first_of(version, settle)  # results keep coming after the swap
                worst.append(max(latency_ms(stream, patched, first), default=0.0))
        sampling.set()
        sampler.join(5)
        memory_after = _memory(module.pid)

        # baseline: a new process with the new model baked in
        restarts = []
        for version, folder in (("sentiment:2", v2_dir), ("sentiment:1", v1_dir)) * args.swaps:
            stopped = time.perf_counter()
            module_cm.__exit__(None, None, None)
            hub.call(hub.hub.patch_desired("sentiment", {"model": None}))
            shutil.rmtree(work / "store", ignore_errors=True)
            module_cm = sentiment_module(hub, folder, work, MODEL_STORE=str(work / "store"))
            module = module_cm.__enter__()
            restarts.append(stream.first_of(version, stopped) - stopped)
        stream.stop()
        stream.drain()
        module_cm.__exit__(None, None, None)

    steal = _steal(cpu_before, _cpu_times())
    errors = [a for a in stream.arrivals if a[2] != "output1"]
    received = {a[1] for a in stream.arrivals}
    lost = [c for c in stream.sent_at if c not in received]
    steady = latency_ms(stream, steady_from, steady_to)
    p50 = statistics.median(steady) if steady else float("nan")
    swap_all = swaps["sentiment:2"] + swaps["sentiment:1"]
    print(
        f"load average at the end {Path('/proc/loadavg').read_text().split()[0]} on {os.cpu_count()} cores; "
        f"CPU steal over the run {steal}"
    )
    print(
        f"{len(stream.sent_at):,} tweets at {args.rate:.0f}/s, {len(lost)} lost, {len(errors)} errors; "
        f"{args.swaps} swaps each way, {len(restarts)} restarts\n"
    )
    print("| change the model by | to first result of the new version: median | min - max | ratio |")
    print("|---|---|---|---|")
    print(
        f"| twin patch (download, verify, load, parity sample, swap) | "
        f"{statistics.median(swap_all) * 1000:,.0f} ms | "
        f"{min(swap_all) * 1000:,.0f} - {max(swap_all) * 1000:,.0f} ms | "
        f"{statistics.median(restarts) / statistics.median(swap_all):.1f}x faster |"
    )
    print(
        f"| new process with the model baked in (baseline) | {statistics.median(restarts) * 1000:,.0f} ms | "
        f"{min(restarts) * 1000:,.0f} - {max(restarts) * 1000:,.0f} ms | 1 |"
    )
    print(
        f"\nv1 -> v2 (int8) {', '.join(f'{s * 1000:.0f}' for s in swaps['sentiment:2'])} ms; "
        f"v2 -> v1 (fp32) {', '.join(f'{s * 1000:.0f}' for s in swaps['sentiment:1'])} ms"
    )
    print(f"latency: steady p50 {p50:.1f} ms; the worst message sent during a swap {max(worst):.1f} ms")
    print(
        f"module memory: RSS {memory_before['VmRSS'] / 1024:.0f} MB before the swaps, peak sampled during them "
        f"{peak_rss[0] / 1024:.0f} MB (+{(peak_rss[0] - memory_before['VmRSS']) / 1024:.0f} MB), "
        f"after {memory_after['VmRSS'] / 1024:.0f} MB; kernel peak (VmHWM) {memory_before['VmHWM'] / 1024:.0f} MB "
        f"before, {memory_after['VmHWM'] / 1024:.0f} MB after"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "swaps_s": swaps,
                    "restarts_s": restarts,
                    "steady_p50_ms": p50,
                    "worst_swap_latency_ms": max(worst),
                    "memory_kib_before": memory_before,
                    "memory_kib_after": memory_after,
                    "peak_rss_kib": peak_rss[0],
                    "lost": len(lost),
                    "errors": len(errors),
                },
                indent=2,
            )
        )
    if lost or errors:
        raise SystemExit(f"{len(lost)} tweets lost, {len(errors)} error replies")


if __name__ == "__main__":
    main()
