"""Test module "talker": logs lines with syslog levels, forwards its input to output "out", echoes methods."""

import os
import signal
import threading

from azure.iot.device import IoTHubModuleClient, Message, MethodResponse


def main() -> None:
    client = IoTHubModuleClient.create_from_edge_environment()
    stopping = threading.Event()

    def on_message(message: Message) -> None:
        print(f"<6> talker forwards {message.data.decode()}", flush=True)
        forward = Message(message.data)
        forward.content_type = "application/json"
        forward.content_encoding = "utf-8"
        client.send_message_to_output(forward, "out")

    def on_method(request) -> None:  # type: ignore[no-untyped-def]
        client.send_method_response(
            MethodResponse.create_from_method_request(request, 200, {"talker": request.payload})
        )

    client.on_message_received = on_message
    client.on_method_request_received = on_method
    client.connect()
    print(f"<6> talker started pid {os.getpid()}", flush=True)
    print("<3> talker error: nothing is wrong, this is a level 3 line", flush=True)
    print("talker line without a level", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    stopping.wait()
    client.shutdown()


if __name__ == "__main__":
    main()
