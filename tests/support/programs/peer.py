"""An unmodified azure-iot-device module, driven by JSON lines on stdin, reporting on stdout.

Run as its own process by the hub tests: ``python peer.py CONNECTION_STRING CA_FILE``.
Commands: {"op": "send", "output", "body", "properties"}, {"op": "twin"}, {"op": "report", "patch"},
{"op": "exit"}. Events: ready, input, desired, method, twin, sent, reported, error.
"""

import json
import sys
import threading
from typing import Any

from azure.iot.device import IoTHubModuleClient, Message, MethodResponse

out_lock = threading.Lock()


def emit(event: str, **data: object) -> None:
    with out_lock:
        sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
        sys.stdout.flush()


def main() -> None:
    connection_string, ca_file = sys.argv[1], sys.argv[2]
    retry = len(sys.argv) < 4 or sys.argv[3] != "no-retry"
    with open(ca_file) as handle:
        ca = handle.read()
    client = IoTHubModuleClient.create_from_connection_string(
        connection_string, server_verification_cert=ca, keep_alive=10, connection_retry=retry
    )

    def on_message(message: Message) -> None:
        emit(
            "input",
            input=message.input_name,
            body=message.data.decode("utf-8", "replace"),
            properties=dict(message.custom_properties),
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            content_type=message.content_type,
        )

    def on_method(request: Any) -> None:
        emit("method", name=request.name, payload=request.payload)
        if request.name != "slow":
            client.send_method_response(
                MethodResponse.create_from_method_request(request, 200, {"echo": request.payload})
            )

    def on_desired(patch: dict) -> None:  # type: ignore[type-arg]
        emit("desired", patch=patch)

    try:
        client.connect()
        client.on_message_received = on_message
        client.on_method_request_received = on_method
        client.on_twin_desired_properties_patch_received = on_desired
    except Exception as exc:  # noqa: BLE001 - the test reads why the connection failed
        emit("error", error=f"{type(exc).__name__}: {exc}")
        return
    emit("ready")
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "send":
            message = Message(json.dumps(command["body"]))
            message.content_type = "application/json"
            message.content_encoding = "utf-8"
            if command.get("message_id"):
                message.message_id = command["message_id"]
            message.custom_properties.update(command.get("properties", {}))
            client.send_message_to_output(message, command["output"])
            emit("sent", message_id=command.get("message_id"))
        elif op == "twin":
            emit("twin", twin=client.get_twin())
        elif op == "report":
            client.patch_twin_reported_properties(command["patch"])
            emit("reported")
        elif op == "exit":
            break
    client.shutdown()
    emit("closed")


if __name__ == "__main__":
    main()
