"""Gateway benchmark: what the 443 listener costs against the hub's own 8883 path, in the same run.

    python bench/bench_gateway.py [--messages 2000] [--rate 100] [--latency-messages 300] [--calls 200]
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
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "simulator" / "hub"))

from bench_hub import _run_pair, _start  # bench/ is not a package: found through sys.path

EDGE_ENV = r"""
import os, sys
os.environ.update(EdgeHubConnectionString=sys.argv[1], EdgeModuleCACertificateFile=sys.argv[2])
for name in [n for n in os.environ if n.startswith("IOTEDGE_")]: del os.environ[name]
from azure.iot.device import IoTHubModuleClient
client = IoTHubModuleClient.create_from_edge_environment(websockets=sys.argv[3] == "ws")
"""

SENDER = EDGE_ENV + r"""
import json, time
from concurrent.futures import ThreadPoolExecutor
from azure.iot.device import Message
n, rate = int(sys.argv[4]), float(sys.argv[5])
client.connect()
print("ready", flush=True); sys.stdin.readline()
def send(i):
    m = Message(json.dumps({"i": i, "t": time.time()}))
    m.content_type, m.content_encoding = "application/json", "utf-8"
    client.send_message_to_output(m, "out")
start = time.perf_counter()
if rate > 0:
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0: time.sleep(delay)  # pacing the load generator, not synchronisation
        send(i)
else:
    with ThreadPoolExecutor(16) as pool: list(pool.map(send, range(n)))
print(json.dumps({"sent": n, "seconds": time.perf_counter() - start}), flush=True)
sys.stdin.readline(); client.shutdown()
"""

RECEIVER = EDGE_ENV + r"""
import json, time, threading
n = int(sys.argv[4])
latencies, done, first = [], threading.Event(), []
def on_message(message):
    now = time.time()
    if not first: first.append(time.perf_counter())
    latencies.append(now - json.loads(message.data)["t"])
    if len(latencies) == n: first.append(time.perf_counter()); done.set()
client.on_message_received = on_message
client.connect()
print("ready", flush=True)
done.wait(600)
span = first[1] - first[0] if len(first) > 1 else None
print(json.dumps({"received": len(latencies), "latencies": latencies, "span": span}), flush=True)
client.shutdown()
"""

CALLEE = EDGE_ENV + r"""
from azure.iot.device import MethodResponse
def on_method(request):
    client.send_method_response(MethodResponse.create_from_method_request(request, 200, request.payload))
client.on_method_request_received = on_method
client.connect()
print("ready", flush=True)
sys.stdin.readline(); client.shutdown()
"""

CALLER = EDGE_ENV + r"""
import json, time
device, calls = sys.argv[4], int(sys.argv[5])
client.connect()
print("ready", flush=True); sys.stdin.readline()
times = []
for i in range(calls):
    began = time.perf_counter()
    params = {"methodName": "echo", "payload": i, "responseTimeoutInSeconds": 30}
    answer = client.invoke_method(params, device, "callee")
    assert answer == {"status": 200, "payload": i}, answer
    times.append(time.perf_counter() - began)
print(json.dumps({"times": times}), flush=True)
sys.stdin.readline(); client.shutdown()
"""


def _cpu() -> tuple[int, int]:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    values = [int(v) for v in fields]
    return values[7], sum(values)


def bench_messages(transport: str, messages: int, rate: float, host: str) -> dict[str, float]:
    from hubkit import HubThread

    with tempfile.TemporaryDirectory() as tmp:
        route = 'FROM /messages/modules/sender/outputs/out INTO BrokeredEndpoint("/modules/receiver/inputs/in")'
        hub = HubThread(Path(tmp), ["sender", "receiver"], {"r": route}, host=host, gateway_port=443).start()
        try:
            ca = str(hub.certs.ca_cert)
            receiver = _start(RECEIVER, hub.connection_string("receiver"), ca, transport, str(messages))
            sender = _start(SENDER, hub.connection_string("sender"), ca, transport, str(messages), str(rate))
            return _run_pair(sender, receiver)
        finally:
            hub.stop()


def _ms(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"calls": len(ordered), "p50_ms": ordered[len(ordered) // 2] * 1000,
            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000}


def bench_methods(calls: int, host: str) -> tuple[dict[str, float], dict[str, float]]:
    """(module -> module over HTTPS, control side -> module), both to the same callee process."""
    from hubkit import DEVICE, HubThread

    with tempfile.TemporaryDirectory() as tmp:
        hub = HubThread(Path(tmp), ["caller", "callee"], {}, host=host, gateway_port=443).start()
        try:
            ca = str(hub.certs.ca_cert)
            callee = _start(CALLEE, hub.connection_string("callee"), ca, "mqtt")
            hub.wait_for(lambda: hub.hub._listens_for_methods("callee"))
            caller = _start(CALLER, hub.connection_string("caller"), ca, "mqtt", DEVICE, str(calls))
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
            rounds[transport].append((bench_messages(transport, args.messages, 0, host),
                                      bench_messages(transport, args.latency_messages, args.rate, host)))
        rounds["methods"].append(bench_methods(args.calls, host))
    cpu_after, load_after = _cpu(), os.getloadavg()[0]
    steal = (cpu_after[0] - cpu_before[0]) / max(cpu_after[1] - cpu_before[1], 1)
    print(f"{args.repeat} rounds, medians (min - max); CPU steal {steal:.0%}, load average "
          f"{load_before:.1f} -> {load_after:.1f}, {os.cpu_count()} CPUs\n")
    print(f"| path | received / sent | msgs/s (max) | min - max | p50 ms @ {args.rate:g}/s | p99 ms | vs 8883 |")
    print("|---|---|---|---|---|---|---|")
    base = statistics.median(t["msgs_per_s"] for t, _ in rounds["mqtt"])
    for key, label in (("ws", "MQTT over WebSockets (443), SDK -> hub -> SDK"),
                       ("mqtt", "MQTT over TLS (8883), SDK -> hub -> SDK (baseline)")):
        rates = [t["msgs_per_s"] for t, _ in rounds[key]]
        counts = f"{sum(t['received'] for t, _ in rounds[key]):.0f} / {sum(t['sent'] for t, _ in rounds[key]):.0f}"
        p50 = statistics.median(lat["p50_ms"] for _, lat in rounds[key])
        p99 = statistics.median(lat["p99_ms"] for _, lat in rounds[key])
        print(f"| {label} | {counts} | {statistics.median(rates):,.0f} | {min(rates):,.0f} - {max(rates):,.0f} | "
              f"{p50:.2f} | {p99:.2f} | {statistics.median(rates) / base:.2f}x |")
    https = [h for h, _ in rounds["methods"]]
    direct = [d for _, d in rounds["methods"]]
    h50, d50 = statistics.median(r["p50_ms"] for r in https), statistics.median(r["p50_ms"] for r in direct)
    print("\n| direct method round trip | calls | p50 ms | p99 ms | vs control side |")
    print("|---|---|---|---|---|")
    print(f"| module -> module, invoke_method over HTTPS (443) | {sum(r['calls'] for r in https):.0f} | {h50:.2f} | "
          f"{statistics.median(r['p99_ms'] for r in https):.2f} | {h50 / d50:.2f}x |")
    print(f"| control side -> module (hub.invoke_method, baseline) | {sum(r['calls'] for r in direct):.0f} | "
          f"{d50:.2f} | {statistics.median(r['p99_ms'] for r in direct):.2f} | 1.00x |")
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "steal": steal, "load": [load_before, load_after]},
                                        indent=2))


if __name__ == "__main__":
    main()
