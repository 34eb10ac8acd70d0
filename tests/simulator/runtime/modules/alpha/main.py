"""Test module "alpha": an unmodified azure-iot-device module (input -> output, method, twin)."""

import json
import signal
import sys
import threading

from azure.iot.device import IoTHubModuleClient, Message, MethodResponse


def main() -> None:
    client = IoTHubModuleClient.create_from_edge_environment()
    stopping = threading.Event()

    def send_json(output: str, value: object, **properties: str) -> None:
        message = Message(json.dumps(value))
        message.content_type = "application/json"
        message.content_encoding = "utf-8"
        message.custom_properties.update(properties)
        client.send_message_to_output(message, output)

    def on_message(message: Message) -> None:
        body = json.loads(message.data)
        print(f"alpha got {body} on {message.input_name}", flush=True)
        send_json("out", {"from": "alpha", "got": body}, seen="alpha", **message.custom_properties)

    def on_method(request) -> None:  # type: ignore[no-untyped-def]
        if request.name == "slow":
            return  # never answers: the caller must get 504
        client.send_method_response(
            MethodResponse.create_from_method_request(request, 200, {"echo": request.payload, "module": "alpha"})
        )

    def on_desired(patch: dict) -> None:  # type: ignore[type-arg]
        client.patch_twin_reported_properties({"applied": {k: v for k, v in patch.items() if k != "$version"}})
        send_json("out", {"from": "alpha", "desired_patch": patch})

    client.on_message_received = on_message
    client.on_method_request_received = on_method
    client.on_twin_desired_properties_patch_received = on_desired
    client.connect()
    twin = client.get_twin()
    client.patch_twin_reported_properties({"started": True, "initial": twin["desired"].get("greeting")})
    print("alpha ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    stopping.wait()
    client.shutdown()
    sys.exit(0)


if __name__ == "__main__":
    main()
