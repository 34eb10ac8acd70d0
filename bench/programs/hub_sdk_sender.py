"""The hub benchmark's sender: an azure-iot-device module publishing ``{"i", "t"}`` to output ``out``.

``python hub_sdk_sender.py CONNECTION_STRING CA_FILE N RATE``. Prints ``ready``, waits for a line on
stdin, sends N messages (paced at RATE/s, or from 16 threads when RATE is 0), prints
``{"sent", "seconds"}`` and exits after one more line on stdin.
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from azure.iot.device import IoTHubModuleClient, Message


def main() -> None:
    cs, n, rate = sys.argv[1], int(sys.argv[3]), float(sys.argv[4])
    with open(sys.argv[2]) as handle:
        ca = handle.read()
    client = IoTHubModuleClient.create_from_connection_string(cs, server_verification_cert=ca)
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
            target = start + i / rate
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the load generator, not synchronisation
            send(i)
    else:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(send, range(n)))
    print(json.dumps({"sent": n, "seconds": time.perf_counter() - start}), flush=True)
    sys.stdin.readline()
    client.shutdown()


if __name__ == "__main__":
    main()
