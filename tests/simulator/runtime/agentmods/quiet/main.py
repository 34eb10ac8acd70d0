"""Test module "quiet": its method "relay" calls another module's method through the gateway (HTTPS, 443)
with ``invoke_method``, signed through the workload API as on a device."""

import os
import signal
import threading

from azure.iot.device import IoTHubModuleClient, MethodResponse


def main() -> None:
    client = IoTHubModuleClient.create_from_edge_environment()
    stopping = threading.Event()

    def on_method(request) -> None:  # type: ignore[no-untyped-def]
        target = request.payload
        try:
            answer = client.invoke_method(
                {"methodName": target["method"], "payload": target.get("payload"), "responseTimeoutInSeconds": 10},
                os.environ["IOTEDGE_DEVICEID"],
                target["module"],
            )
            status, payload = 200, answer
        except Exception as exc:  # noqa: BLE001 - the caller reads what the SDK raised (404 / 504 come as errors)
            status, payload = 500, {"error": str(exc.__cause__ or exc)}
        client.send_method_response(MethodResponse.create_from_method_request(request, status, payload))

    client.on_method_request_received = on_method
    client.connect()
    print("<6> quiet started", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    stopping.wait()
    client.shutdown()


if __name__ == "__main__":
    main()
