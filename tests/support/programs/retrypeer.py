"""An unmodified azure-iot-device module that reconnects after 1 s (the SDK's default is 10 s).

``python retrypeer.py CONNECTION_STRING CA_FILE``; the commands and events of ``peer.py``
(send, twin, report, exit; ready, input, sent, twin, reported). The store-limit tests need the
SDK's own retry of a refused publish (reconnect, then paho sends it again) within a short test.
"""

import json
import sys
import threading

from azure.iot.device import IoTHubModuleClient, Message

out_lock = threading.Lock()


def emit(event: str, **data: object) -> None:
    with out_lock:
        sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
        sys.stdout.flush()


def main() -> None:
    connection_string, ca_file = sys.argv[1], sys.argv[2]
    with open(ca_file) as handle:
        ca = handle.read()
    client = IoTHubModuleClient.create_from_connection_string(
        connection_string, server_verification_cert=ca, keep_alive=10, connection_retry_interval=1
    )

    def on_message(message: Message) -> None:
        emit("input", input=message.input_name, body=message.data.decode("utf-8", "replace"))

    client.connect()
    client.on_message_received = on_message
    emit("ready")
    sending: list[threading.Thread] = []
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "send":

            def send(body: object = command["body"], output: str = command["output"]) -> None:
                try:
                    client.send_message_to_output(Message(json.dumps(body)), output)  # blocks until the PUBACK
                except Exception as exc:  # noqa: BLE001 - the test reads what the SDK told its caller
                    emit("send_failed", body=body, error=f"{type(exc).__name__}: {exc}")
                else:
                    emit("sent", body=body)

            # Each send on its own thread: many publishes in flight at once, as a busy module has.
            thread = threading.Thread(target=send, daemon=True)
            thread.start()
            sending.append(thread)
        elif op == "twin":
            emit("twin", twin=client.get_twin())
        elif op == "report":
            client.patch_twin_reported_properties(command["patch"])
            emit("reported")
        elif op == "exit":
            break
    for thread in sending:
        thread.join(60)
    client.shutdown()
    emit("closed")


if __name__ == "__main__":
    main()
