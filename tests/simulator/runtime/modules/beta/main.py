"""Test module "beta": forwards what arrives on input "fromA" to output "up" (routed to $upstream)."""

import json
import signal
import threading

from azure.iot.device import IoTHubModuleClient, Message


def main() -> None:
    client = IoTHubModuleClient.create_from_edge_environment()
    stopping = threading.Event()

    def on_message(message: Message) -> None:
        if message.input_name != "fromA":
            return
        forwarded = Message(json.dumps({"from": "beta", "inner": json.loads(message.data)}))
        forwarded.content_type = "application/json"
        forwarded.content_encoding = "utf-8"
        forwarded.custom_properties.update(message.custom_properties)
        forwarded.custom_properties["sender"] = message.custom_properties.get("seen", "?")
        client.send_message_to_output(forwarded, "up")

    client.on_message_received = on_message
    client.connect()
    print("beta ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    stopping.wait()
    client.shutdown()


if __name__ == "__main__":
    main()
