"""The hub benchmark's baseline receiver: paho subscribed to ``bench/in`` on a local broker.

``python hub_paho_receiver.py PORT N``; the same stdout protocol as ``hub_sdk_receiver.py``.
"""

import json
import sys
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt


def main() -> None:
    port, n = int(sys.argv[1]), int(sys.argv[2])
    latencies: list[float] = []
    done = threading.Event()
    first: list[float] = []
    subscribed = threading.Event()

    def on_message(c: Any, u: Any, m: Any) -> None:
        now = time.time()
        if not first:
            first.append(time.perf_counter())
        latencies.append(now - json.loads(m.payload)["t"])
        if len(latencies) == n:
            first.append(time.perf_counter())
            done.set()

    c = mqtt.Client(client_id="bench-receiver")
    c.on_message = on_message
    c.on_subscribe = lambda *a: subscribed.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.subscribe("bench/in", qos=1)
    subscribed.wait(10)
    print("ready", flush=True)
    done.wait(600)
    span = first[1] - first[0] if len(first) > 1 else None
    print(json.dumps({"received": len(latencies), "latencies": latencies, "span": span}), flush=True)
    c.disconnect()
    c.loop_stop()


if __name__ == "__main__":
    main()
