"""Test module "sender": its direct method "burst" sends numbered messages to output "telemetry".

``{"start": S, "count": N, "interval": SECS}`` answers at once and then sends ``{"n": S}`` ...
``{"n": S+N-1}`` one after another (each send waits for its PUBACK, so they leave in order),
``interval`` seconds apart. The tests route "telemetry" to $upstream.
"""

import json
import signal
import threading
import time

from azure.iot.device import IoTHubModuleClient, Message, MethodResponse


def main() -> None:
    client = IoTHubModuleClient.create_from_edge_environment()
    stopping = threading.Event()

    def burst(start: int, count: int, interval: float) -> None:
        began = time.monotonic()
        for index in range(count):
            if stopping.is_set():
                return
            message = Message(json.dumps({"n": start + index}))
            message.content_type = "application/json"
            message.content_encoding = "utf-8"
            client.send_message_to_output(message, "telemetry")
            # paced against the start, so the burst lasts count * interval whatever each send costs
            stopping.wait(max(0.0, began + (index + 1) * interval - time.monotonic()))

    def on_method(request) -> None:  # type: ignore[no-untyped-def]
        if request.name == "burst":
            args = request.payload
            threading.Thread(
                target=burst, args=(int(args["start"]), int(args["count"]), float(args.get("interval", 0))), daemon=True
            ).start()
            client.send_method_response(MethodResponse.create_from_method_request(request, 200, {"started": True}))
        else:
            client.send_method_response(MethodResponse.create_from_method_request(request, 404, None))

    client.on_method_request_received = on_method
    client.connect()
    print("sender ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    stopping.wait()
    client.shutdown()


if __name__ == "__main__":
    main()
