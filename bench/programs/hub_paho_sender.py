"""The hub benchmark's baseline sender: paho publishing ``{"i", "t"}`` to ``bench/in`` on a local broker.

``python hub_paho_sender.py PORT N RATE``; the same stdin/stdout protocol as ``hub_sdk_sender.py``.
"""

import json
import sys
import time
from typing import Any

import paho.mqtt.client as mqtt


def main() -> None:
    port, n, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    c = mqtt.Client(client_id="bench-sender")
    c.max_inflight_messages_set(64)
    c.connect("127.0.0.1", port)
    c.loop_start()
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    infos: list[Any] = []
    for i in range(n):
        if rate > 0:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the load generator
        infos.append(c.publish("bench/in", json.dumps({"i": i, "t": time.time()}), qos=1))
    for info in infos:
        info.wait_for_publish(60)
    print(json.dumps({"sent": n, "seconds": time.perf_counter() - start}), flush=True)
    sys.stdin.readline()
    c.disconnect()
    c.loop_stop()


if __name__ == "__main__":
    main()
