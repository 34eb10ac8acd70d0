"""Test module "quiet": connects and waits; one log line."""

import signal
import threading

from azure.iot.device import IoTHubModuleClient


def main() -> None:
    client = IoTHubModuleClient.create_from_edge_environment()
    stopping = threading.Event()
    client.connect()
    print("<6> quiet started", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    stopping.wait()
    client.shutdown()


if __name__ == "__main__":
    main()
