"""Test module "pump": an unmodified azure-iot-device module that streams numbered messages.

Streams come from ``PUMP_PLAN`` (JSON list, started at once) or the ``stream`` direct method
(payload: one plan entry). A plan entry: ``{"output", "prefix", "count", "rate"}``; message ``i``
has message id ``{prefix}-{i}``, body ``{"text": ..., "n": i}`` and property ``n``. With
``PUMP_PROGRESS`` (a file), the next index of each prefix is saved after every acknowledged send
and a restarted pump resumes there. When a stream ends, ``done.{prefix}`` is reported in the twin.
A send that fails because the connection is down is retried (as a real source must), so the
stream survives dropped connections. SIGTERM stops the streams after their current send.
"""

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from azure.iot.device import IoTHubModuleClient, Message, MethodResponse
from azure.iot.device.exceptions import ConnectionDroppedError, NoConnectionError, OperationTimeout

client = IoTHubModuleClient.create_from_edge_environment()
stopping = threading.Event()
progress_lock = threading.Lock()
progress_path = Path(os.environ["PUMP_PROGRESS"]) if os.environ.get("PUMP_PROGRESS") else None
progress: dict[str, int] = json.loads(progress_path.read_text()) if progress_path and progress_path.exists() else {}


def save_progress(prefix: str, next_index: int) -> None:
    if progress_path is None:
        return
    with progress_lock:
        progress[prefix] = next_index
        tmp = progress_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(progress))
        tmp.replace(progress_path)


def send(message: Message, output: str) -> bool:
    """Send, retrying while the connection is down (the SDK raises if a send starts in that window)."""
    while not stopping.is_set():
        try:
            client.send_message_to_output(message, output)
            return True
        except (NoConnectionError, ConnectionDroppedError, OperationTimeout) as exc:
            print(f"pump: send failed ({type(exc).__name__}), retrying", flush=True)
            stopping.wait(0.1)  # a retry interval while the SDK reconnects
    return False


def stream(output: str, prefix: str, count: int, rate: float) -> None:
    first = progress.get(prefix, 0)
    started = time.monotonic()
    for i in range(first, count):
        if stopping.is_set():
            return
        delay = started + (i - first) / rate - time.monotonic()
        if delay > 0 and stopping.wait(delay):  # pacing the stream, not synchronisation
            return
        message = Message(json.dumps({"text": f"message {i} from {prefix}", "n": i}))
        message.content_type = "application/json"
        message.content_encoding = "utf-8"
        message.message_id = f"{prefix}-{i}"
        message.custom_properties["n"] = str(i)
        if not send(message, output):
            return
        save_progress(prefix, i + 1)
    client.patch_twin_reported_properties({"done": {prefix: count}})
    print(f"pump: stream {prefix} done ({count} messages)", flush=True)


def start_stream(entry: dict) -> threading.Thread:  # type: ignore[type-arg]
    thread = threading.Thread(
        target=stream,
        args=(entry["output"], entry["prefix"], int(entry["count"]), float(entry.get("rate", 1000))),
        daemon=True,
    )
    thread.start()
    return thread


def on_method(request) -> None:  # type: ignore[no-untyped-def]
    if request.name == "stream":
        start_stream(request.payload)
        status, payload = 200, {"started": request.payload["prefix"]}
    else:
        status, payload = 404, {"error": request.name}
    client.send_method_response(MethodResponse.create_from_method_request(request, status, payload))


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    client.connect()
    client.on_method_request_received = on_method
    threads = [start_stream(entry) for entry in json.loads(os.environ.get("PUMP_PLAN", "[]"))]
    print("pump ready", flush=True)
    stopping.wait()
    for thread in threads:
        thread.join(30)
    client.shutdown()
    sys.exit(0)


if __name__ == "__main__":
    main()
