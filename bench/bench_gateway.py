"""Gateway benchmark: what the 443 listener costs against the hub's own 8883 path, in the same run.

    python -m bench.bench_gateway [--messages 2000] [--rate 100] [--latency-messages 300] [--calls 200]
                                  [--repeat 3] [--json OUT]

1. module -> module messages with the real SDK, sender and receiver both over MQTT over WebSockets
   (443) against both over MQTT/TLS (8883, the baseline): msgs/s flat out and latency at a paced rate.
2. direct method round trips to a module: ``invoke_method`` from another module (HTTPS on 443, SAS
   checked per call, then MQTT to the callee) against the control side's call into the hub (the
   baseline: the same MQTT leg without the HTTPS one).

Rounds interleave the paths, so a slow spell of the shared machine hits each. The CPU steal and the
load average during the run are printed with the results. Needs root (port 443). Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_hub import run_pair, start_worker


def _cpu() -> tuple[int, int]:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    values = [int(v) for v in fields]
    return values[7], sum(values)


def bench_messages(transport: str, messages: int, rate: float, host: str) -> dict[str, float]:
    from tests.support.hub import HubThread

    with tempfile.TemporaryDirectory() as tmp:
        route = 'FROM /messages/modules/sender/outputs/out INTO BrokeredEndpoint("/modules/receiver/inputs/in")'
        hub = HubThread(Path(tmp), ["sender", "receiver"], {"r": route}, host=host, gateway_port=443).start()
        try:
            ca = str(hub.certs.ca_cert)
            receiver = start_worker(
                "gateway_module", "receiver", hub.connection_string("receiver"), ca, transport, str(messages)
            )
            sender = start_worker(
                "gateway_module", "sender", hub.connection_string("sender"), ca, transport, str(messages), str(rate)
            )
            return run_pair(sender, receiver)
        finally:
            hub.stop()


def _ms(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "calls": len(ordered),
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


def bench_methods(calls: int, host: str) -> tuple[dict[str, float], dict[str, float]]:
    """(module -> module over HTTPS, control side -> module), both to the same callee process."""
    from tests.support.hub import DEVICE, HubThread, listens_for_methods

    with tempfile.TemporaryDirectory() as tmp:
        hub = HubThread(Path(tmp), ["caller", "callee"], {}, host=host, gateway_port=443).start()
        try:
            ca = str(hub.certs.ca_cert)
            callee = start_worker("gateway_module", "callee", hub.connection_string("callee"), ca, "mqtt")
            hub.wait_for(lambda: listens_for_methods(hub.hub, "callee"))
            caller = start_worker(
                "gateway_module", "caller", hub.connection_string("caller"), ca, "mqtt", DEVICE, str(calls)
            )
            assert caller.stdin is not None
            assert caller.stdout is not None
            caller.stdin.write("go\n")
            caller.stdin.flush()
            https = json.loads(caller.stdout.readline())["times"]

            async def control_side() -> list[float]:
                times = []
                for i in range(calls):
                    began = time.perf_counter()
                    status, payload = await hub.hub.invoke_method("callee", "echo", i, 30)
                    assert (status, payload) == (200, i)
                    times.append(time.perf_counter() - began)
                return times

            direct = hub.call(control_side(), timeout=600)
            for process in (caller, callee):
                assert process.stdin is not None
                process.stdin.write("stop\n")
                process.stdin.flush()
                process.wait(30)
            return _ms(https), _ms(direct)
        finally:
            hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--latency-messages", type=int, default=300)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    host = f"127.2.{os.getpid() % 250}.1"  # its own loopback address: 443 and 8883 are fixed ports
    cpu_before, load_before = _cpu(), os.getloadavg()[0]
    rounds: dict[str, list[Any]] = {"ws": [], "mqtt": [], "methods": []}
    for _ in range(args.repeat):
        for transport in ("ws", "mqtt"):
            rounds[transport].append(
                (
                    bench_messages(transport, args.messages, 0, host),
                    bench_messages(transport, args.latency_messages, args.rate, host),
                )
            )
        rounds["methods"].append(bench_methods(args.calls, host))
    cpu_after, load_after = _cpu(), os.getloadavg()[0]
    steal = (cpu_after[0] - cpu_before[0]) / max(cpu_after[1] - cpu_before[1], 1)
    print(
        f"{args.repeat} rounds, medians (min - max); CPU steal {steal:.0%}, load average "
        f"{load_before:.1f} -> {load_after:.1f}, {os.cpu_count()} CPUs\n"
    )
    print(f"| path | received / sent | msgs/s (max) | min - max | p50 ms @ {args.rate:g}/s | p99 ms | vs 8883 |")
    print("|---|---|---|---|---|---|---|")
    base = statistics.median(t["msgs_per_s"] for t, _ in rounds["mqtt"])
    for key, label in (
        ("ws", "MQTT over WebSockets (443), SDK -> hub -> SDK"),
        ("mqtt", "MQTT over TLS (8883), SDK -> hub -> SDK (baseline)"),
    ):
        rates = [t["msgs_per_s"] for t, _ in rounds[key]]
        counts = f"{sum(t['received'] for t, _ in rounds[key]):.0f} / {sum(t['sent'] for t, _ in rounds[key]):.0f}"
        p50 = statistics.median(lat["p50_ms"] for _, lat in rounds[key])
        p99 = statistics.median(lat["p99_ms"] for _, lat in rounds[key])
        print(
            f"| {label} | {counts} | {statistics.median(rates):,.0f} | {min(rates):,.0f} - {max(rates):,.0f} | "
            f"{p50:.2f} | {p99:.2f} | {statistics.median(rates) / base:.2f}x |"
        )
    https = [h for h, _ in rounds["methods"]]
    direct = [d for _, d in rounds["methods"]]
    h50, d50 = statistics.median(r["p50_ms"] for r in https), statistics.median(r["p50_ms"] for r in direct)
    print("\n| direct method round trip | calls | p50 ms | p99 ms | vs control side |")
    print("|---|---|---|---|---|")
    print(
        f"| module -> module, invoke_method over HTTPS (443) | {sum(r['calls'] for r in https):.0f} | {h50:.2f} | "
        f"{statistics.median(r['p99_ms'] for r in https):.2f} | {h50 / d50:.2f}x |"
    )
    print(
        f"| control side -> module (hub.invoke_method, baseline) | {sum(r['calls'] for r in direct):.0f} | "
        f"{d50:.2f} | {statistics.median(r['p99_ms'] for r in direct):.2f} | 1.00x |"
    )
    if args.json:
        args.json.write_text(
            json.dumps({"rounds": rounds, "steal": steal, "load": [load_before, load_after]}, indent=2)
        )


if __name__ == "__main__":
    main()
