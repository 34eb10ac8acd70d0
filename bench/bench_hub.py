"""Hub benchmark: module -> module and module -> $upstream messages per second and latency
through the simulator's hub with the real azure-iot-device SDK, against a raw loopback MQTT
baseline (paho against mosquitto) measured in the same run.

    python -m bench.bench_hub [--messages 3000] [--rate 100] [--repeat 3] [--json OUT]

Sender and receiver are separate processes. Throughput: the sender publishes N messages from 16
threads as fast as QoS 1 allows; latency: one message at a time at a fixed rate (default 100/s),
timestamp in the body, measured at the receiver (same clock). All traffic stays on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROGRAMS = Path(__file__).resolve().parent / "programs"


def start_worker(program: str, *args: str) -> subprocess.Popen[str]:
    """Start ``programs/<program>.py`` with ``args`` and wait for its ``ready`` line."""
    process = subprocess.Popen(
        [sys.executable, str(PROGRAMS / f"{program}.py"), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != "ready":
        raise RuntimeError(f"worker did not start: {line!r}")
    return process


def run_pair(sender: subprocess.Popen[str], receiver: subprocess.Popen[str]) -> dict[str, float]:
    assert sender.stdin is not None
    assert sender.stdout is not None
    assert receiver.stdout is not None
    sender.stdin.write("go\n")
    sender.stdin.flush()
    sent = json.loads(sender.stdout.readline())
    received = json.loads(receiver.stdout.readline())
    sender.stdin.write("stop\n")
    sender.stdin.flush()
    sender.wait(30)
    receiver.wait(30)
    return _summary(sent, received)


def _summary(sent: dict[str, Any], received: dict[str, Any]) -> dict[str, float]:
    latencies = sorted(received["latencies"])
    n = len(latencies)
    return {
        "sent": sent["sent"],
        "received": received["received"],
        "msgs_per_s": received["received"] / max(sent["seconds"], received["span"] or 0, 1e-9),
        "p50_ms": latencies[n // 2] * 1000 if n else float("nan"),
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan"),
    }


def bench_hub(messages: int, rate: float) -> dict[str, float]:
    from tests.support.hub import HubThread

    with tempfile.TemporaryDirectory() as tmp:
        route = 'FROM /messages/modules/sender/outputs/out INTO BrokeredEndpoint("/modules/receiver/inputs/in")'
        hub = HubThread(Path(tmp), ["sender", "receiver"], {"r": route}, host="127.0.0.99").start()
        try:
            ca = str(hub.certs.ca_cert)
            receiver = start_worker("hub_sdk_receiver", hub.connection_string("receiver"), ca, str(messages))
            sender = start_worker("hub_sdk_sender", hub.connection_string("sender"), ca, str(messages), str(rate))
            return run_pair(sender, receiver)
        finally:
            hub.stop()


async def _collect_upstream(hub: Any, n: int, timeout: float) -> dict[str, Any]:
    latencies: list[float] = []
    seq, first, last = 0, None, None
    deadline = time.monotonic() + timeout
    while len(latencies) < n and time.monotonic() < deadline:
        fresh = await hub.wait_upstream(seq, timeout=max(0.1, deadline - time.monotonic()))
        now = time.time()
        for record in fresh:
            seq = record.seq
            latencies.append(now - json.loads(record.body)["t"])
        if fresh:
            first = first if first is not None else time.perf_counter()
            last = time.perf_counter()
    span = (last - first) if first is not None and last is not None and last > first else None
    return {"received": len(latencies), "latencies": latencies, "span": span}


def bench_hub_upstream(messages: int, rate: float) -> dict[str, float]:
    """The same SDK sender, its output routed into $upstream; arrival timed inside the hub."""
    from tests.support.hub import HubThread

    with tempfile.TemporaryDirectory() as tmp:
        hub = HubThread(
            Path(tmp), ["sender"], {"r": "FROM /messages/modules/sender/outputs/out INTO $upstream"}, host="127.0.0.97"
        ).start()
        try:
            sender = start_worker(
                "hub_sdk_sender", hub.connection_string("sender"), str(hub.certs.ca_cert), str(messages), str(rate)
            )
            assert sender.stdin is not None
            assert sender.stdout is not None
            collector = asyncio.run_coroutine_threadsafe(_collect_upstream(hub.hub, messages, 600), hub.loop)
            sender.stdin.write("go\n")
            sender.stdin.flush()
            sent = json.loads(sender.stdout.readline())
            received = collector.result(620)
            sender.stdin.write("stop\n")
            sender.stdin.flush()
            sender.wait(30)
        finally:
            hub.stop()
    return _summary(sent, received)


def bench_mosquitto(messages: int, rate: float) -> dict[str, float] | None:
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if binary is None:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "m.conf"
        config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 64\n")
        broker = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.02)  # waiting for the broker's port to open
            receiver = start_worker("hub_paho_receiver", str(port), str(messages))
            sender = start_worker("hub_paho_sender", str(port), str(messages), str(rate))
            return run_pair(sender, receiver)
        finally:
            broker.terminate()
            broker.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=100.0, help="paced rate for the latency run")
    parser.add_argument("--latency-messages", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every path")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    paths = {
        "edgesim hub + azure-iot-device, module -> module (TLS, SAS, store)": bench_hub,
        "edgesim hub + azure-iot-device, module -> $upstream (TLS, SAS, log)": bench_hub_upstream,
        "mosquitto + paho, client -> client (plain TCP, baseline)": bench_mosquitto,
    }
    samples: dict[str, list[tuple[dict[str, float], dict[str, float]]]] = {label: [] for label in paths}
    for _ in range(args.repeat):  # rounds: a slow spell of the machine hits every path
        for label, fn in paths.items():
            throughput, latency = fn(args.messages, 0), fn(args.latency_messages, args.rate)
            if throughput is not None and latency is not None:
                samples[label].append((throughput, latency))
    print(f"{args.repeat} rounds; medians, with min - max over the rounds\n")
    paced = f"{args.rate:g}/s"
    print(
        f"| path | received / sent | msgs/s (max) | min - max | p50 ms @ {paced} | p99 ms @ {paced} | "
        "p50 ms (max load) | vs baseline |"
    )
    print("|---|---|---|---|---|---|---|---|")
    base_rates = [t["msgs_per_s"] for t, _ in samples[list(paths)[-1]]]
    base = statistics.median(base_rates) if base_rates else None
    for label, rounds in samples.items():
        if not rounds:
            print(f"| {label} | n/a | n/a | n/a | n/a | n/a | n/a | n/a |")
            continue
        rates = [t["msgs_per_s"] for t, _ in rounds]
        rate = statistics.median(rates)
        counts = f"{sum(t['received'] for t, _ in rounds):.0f} / {sum(t['sent'] for t, _ in rounds):.0f}"
        p50 = statistics.median(lat["p50_ms"] for _, lat in rounds)
        p99 = statistics.median(lat["p99_ms"] for _, lat in rounds)
        loaded = statistics.median(t["p50_ms"] for t, _ in rounds)
        ratio = f"{rate / base:.2f}x" if base else "n/a"
        print(
            f"| {label} | {counts} | {rate:,.0f} | {min(rates):,.0f} - {max(rates):,.0f} | {p50:.2f} | {p99:.2f} | "
            f"{loaded:.1f} | {ratio} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {label: [{"max_load": t, "paced": lat} for t, lat in rounds] for label, rounds in samples.items()},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
