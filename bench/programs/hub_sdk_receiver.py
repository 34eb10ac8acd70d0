"""The hub benchmark's receiver: an azure-iot-device module timing each message's arrival.

``python hub_sdk_receiver.py CONNECTION_STRING CA_FILE N``. Prints ``ready`` once connected, then,
after N messages (or 600 s), ``{"received", "latencies", "span"}``.
"""

import json
import sys
import threading
import time
from typing import Any

from azure.iot.device import IoTHubModuleClient


def main() -> None:
    cs, n = sys.argv[1], int(sys.argv[3])
    with open(sys.argv[2]) as handle:
        ca = handle.read()
    client = IoTHubModuleClient.create_from_connection_string(cs, server_verification_cert=ca)
    latencies: list[float] = []
    done, lock = threading.Event(), threading.Lock()
    first: list[float] = []

    def on_message(message: Any) -> None:
        now = time.time()
        with lock:
            if not first:
                first.append(time.perf_counter())
            latencies.append(now - json.loads(message.data)["t"])
            if len(latencies) == n:
                first.append(time.perf_counter())
                done.set()

    client.connect()
    client.on_message_received = on_message
    print("ready", flush=True)
    done.wait(600)
    span = first[1] - first[0] if len(first) > 1 else None
    print(json.dumps({"received": len(latencies), "latencies": latencies, "span": span}), flush=True)
    client.shutdown()


if __name__ == "__main__":
    main()
