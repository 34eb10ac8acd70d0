"""The gateway benchmark's modules: azure-iot-device clients from the edge environment, over MQTT/TLS
(8883) or MQTT over WebSockets (443).

``python gateway_module.py ROLE CONNECTION_STRING CA_FILE mqtt|ws ARGS...`` with ROLE and ARGS:
``sender N RATE``, ``receiver N``, ``callee``, ``caller DEVICE CALLS``. Each prints ``ready`` when
connected; senders and callers then wait for a line on stdin, print their JSON result and exit after
one more line (the same protocol as the hub benchmark's programs).
"""

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.iot.device import IoTHubModuleClient, Message, MethodResponse


def edge_client(connection_string: str, ca_file: str, transport: str) -> Any:
    """The client ``create_from_edge_environment()`` makes from the connection-string fallback."""
    os.environ.update(EdgeHubConnectionString=connection_string, EdgeModuleCACertificateFile=ca_file)
    for name in [n for n in os.environ if n.startswith("IOTEDGE_")]:
        del os.environ[name]
    return IoTHubModuleClient.create_from_edge_environment(websockets=transport == "ws")


def sender(client: Any, n: int, rate: float) -> None:
    client.connect()
    print("ready", flush=True)
    sys.stdin.readline()

    def send(i: int) -> None:
        m = Message(json.dumps({"i": i, "t": time.time()}))
        m.content_type, m.content_encoding = "application/json", "utf-8"
        client.send_message_to_output(m, "out")

    start = time.perf_counter()
    if rate > 0:
        for i in range(n):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the load generator, not synchronisation
            send(i)
    else:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(send, range(n)))
    print(json.dumps({"sent": n, "seconds": time.perf_counter() - start}), flush=True)
    sys.stdin.readline()
    client.shutdown()


def receiver(client: Any, n: int) -> None:
    latencies: list[float] = []
    done = threading.Event()
    first: list[float] = []

    def on_message(message: Any) -> None:
        now = time.time()
        if not first:
            first.append(time.perf_counter())
        latencies.append(now - json.loads(message.data)["t"])
        if len(latencies) == n:
            first.append(time.perf_counter())
            done.set()

    client.on_message_received = on_message
    client.connect()
    print("ready", flush=True)
    done.wait(600)
    span = first[1] - first[0] if len(first) > 1 else None
    print(json.dumps({"received": len(latencies), "latencies": latencies, "span": span}), flush=True)
    client.shutdown()


def callee(client: Any) -> None:
    def on_method(request: Any) -> None:
        client.send_method_response(MethodResponse.create_from_method_request(request, 200, request.payload))

    client.on_method_request_received = on_method
    client.connect()
    print("ready", flush=True)
    sys.stdin.readline()
    client.shutdown()


def caller(client: Any, device: str, calls: int) -> None:
    client.connect()
    print("ready", flush=True)
    sys.stdin.readline()
    times = []
    for i in range(calls):
        began = time.perf_counter()
        params = {"methodName": "echo", "payload": i, "responseTimeoutInSeconds": 30}
        answer = client.invoke_method(params, device, "callee")
        assert answer == {"status": 200, "payload": i}, answer
        times.append(time.perf_counter() - began)
    print(json.dumps({"times": times}), flush=True)
    sys.stdin.readline()
    client.shutdown()


def main() -> None:
    role, connection_string, ca_file, transport, *args = sys.argv[1:]
    client = edge_client(connection_string, ca_file, transport)
    if role == "sender":
        sender(client, int(args[0]), float(args[1]))
    elif role == "receiver":
        receiver(client, int(args[0]))
    elif role == "callee":
        callee(client)
    elif role == "caller":
        caller(client, args[0], int(args[1]))
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main()
