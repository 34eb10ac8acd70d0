"""An unmodified azure-iot-device client (a module or a leaf device), driven by JSON lines on stdin.

``python edgepeer.py module|device CONNECTION_STRING CA_FILE [websockets] [no-retry]``.
Commands: {"op": "send", "output"?, "body", "properties"?}, {"op": "twin"}, {"op": "report", "patch"},
{"op": "invoke", "device", "module"?, "params"} (modules only: ``invoke_method`` over HTTPS to the
gateway), {"op": "exit"}. Events: ready, message (a module input or a cloud-to-device message),
method, desired, twin, sent, reported, invoked, invoke_failed, error, closed.
"""

import json
import os
import sys
import threading
from typing import Any

from azure.iot.device import IoTHubDeviceClient, IoTHubModuleClient, Message, MethodResponse

out_lock = threading.Lock()


def emit(event: str, **data: object) -> None:
    with out_lock:
        sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
        sys.stdout.flush()


def main() -> None:
    kind, connection_string, ca_file = sys.argv[1], sys.argv[2], sys.argv[3]
    flags = set(sys.argv[4:])
    with open(ca_file) as handle:
        ca = handle.read()
    options = {"keep_alive": 10, "websockets": "websockets" in flags, "connection_retry": "no-retry" not in flags}
    client: IoTHubModuleClient | IoTHubDeviceClient
    if kind == "module":
        # The SDK's edge fallback (what a module on a device without the workload API reads): only a
        # client made by create_from_edge_environment() may call invoke_method.
        os.environ.update(EdgeHubConnectionString=connection_string, EdgeModuleCACertificateFile=ca_file)
        for name in [name for name in os.environ if name.startswith("IOTEDGE_")]:
            del os.environ[name]
        client = IoTHubModuleClient.create_from_edge_environment(**options)
    else:
        client = IoTHubDeviceClient.create_from_connection_string(
            connection_string, server_verification_cert=ca, **options
        )

    def on_message(message: Message) -> None:
        emit(
            "message",
            input=getattr(message, "input_name", None),
            body=message.data.decode("utf-8", "replace"),
            properties=dict(message.custom_properties),
            message_id=message.message_id,
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
        # Handlers first: a session that reconnects gets its queued messages right after CONNACK,
        # and the SDK drops a message that arrives before its handler is set.
        client.on_message_received = on_message
        client.on_method_request_received = on_method
        client.on_twin_desired_properties_patch_received = on_desired
        client.connect()
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
            message.custom_properties.update(command.get("properties", {}))
            if isinstance(client, IoTHubModuleClient):
                client.send_message_to_output(message, command["output"])
            else:
                client.send_message(message)
            emit("sent")
        elif op == "twin":
            emit("twin", twin=client.get_twin())
        elif op == "report":
            client.patch_twin_reported_properties(command["patch"])
            emit("reported")
        elif op == "invoke":
            assert isinstance(client, IoTHubModuleClient), "only a module invokes methods"
            try:
                response = client.invoke_method(command["params"], command["device"], command.get("module"))
            except Exception as exc:  # noqa: BLE001 - the SDK raises for any status >= 300: the test reads which
                cause = exc.__cause__
                emit(
                    "invoke_failed",
                    error=f"{type(exc).__name__}: {exc}",
                    cause=f"{type(cause).__name__}: {cause}" if cause else None,
                )
            else:
                emit("invoked", response=response)
        elif op == "exit":
            break
    client.shutdown()
    emit("closed")


if __name__ == "__main__":
    main()
