"""Test module "sink": receives on its inputs in arrival order and journals every message to a file.

Each input has its own thread calling ``receive_message_on_input`` (the SDK fills one FIFO inbox
per input in wire order, so a journal per input shows the hub's delivery order; the handler API
would hand messages to a pool of four threads). ``SINK_JOURNAL`` is the file (one JSON line per
message: input, message id, pid). When the journal holds fewer than ``SINK_DISCONNECT_AFTER`` lines
at start, the sink disconnects once it reaches that many (a destination that goes away mid-stream)
and waits for SIGTERM. On SIGTERM it disconnects first, then journals what the SDK already took in
(the SDK acknowledges on receipt), then exits.
"""

import json
import os
import signal
import sys
import threading
from pathlib import Path

from azure.iot.device import IoTHubModuleClient

client = IoTHubModuleClient.create_from_edge_environment()
journal_path = Path(os.environ["SINK_JOURNAL"])
inputs = os.environ["SINK_INPUTS"].split(",")
already = len(journal_path.read_text().splitlines()) if journal_path.exists() else 0
limit = int(os.environ.get("SINK_DISCONNECT_AFTER", "0"))
disconnect_after = limit if already < limit else None
journal = journal_path.open("a", encoding="utf-8")
lock = threading.Lock()
received = already
closing = threading.Event()
go_away = threading.Event()


def receive(input_name: str) -> None:
    global received
    while True:
        message = client.receive_message_on_input(input_name, timeout=0.2)
        if message is None:
            if closing.is_set():
                return
            continue
        with lock:
            journal.write(json.dumps({"input": input_name, "id": message.message_id, "pid": os.getpid()}) + "\n")
            journal.flush()
            received += 1
            if disconnect_after is not None and received >= disconnect_after:
                go_away.set()


def main() -> None:
    terminated = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: (terminated.set(), go_away.set()))
    # The inboxes must exist before connecting: the hub resumes the session and sends stored messages
    # at once, and the SDK drops (after acknowledging) a message for an input that has no inbox yet.
    for name in inputs:
        client._inbox_manager.get_input_message_inbox(name)
    client.connect()
    threads = [threading.Thread(target=receive, args=(name,), daemon=True) for name in inputs]
    for thread in threads:
        thread.start()
    print(f"sink ready ({already} journaled before)", flush=True)
    go_away.wait()
    client.disconnect()  # nothing more arrives; what the SDK took in is still journaled below
    closing.set()
    for thread in threads:
        thread.join(30)
    print(f"sink disconnected with {received} journaled", flush=True)
    terminated.wait()
    client.shutdown()
    journal.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
