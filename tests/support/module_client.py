"""An in-memory twin of the SDK's ``ModuleClient`` for the module's IoT Hub face, with the SDK's real messages."""

from __future__ import annotations

import queue
import threading
from typing import Any

from azure.iot.device import Message

from edgeship_sentiment.jsontypes import JSONObject, ReportedProperties


class InMemoryModuleClient:
    """Implements the ``ModuleClient`` protocol; records what the face sends."""

    def __init__(self, desired: dict[str, Any] | None = None) -> None:
        self.on_message_received: Any = None
        self.on_method_request_received: Any = None
        self.on_twin_desired_properties_patch_received: Any = None
        self.desired = {"$version": 1, **(desired or {})}
        self.outputs: queue.Queue[tuple[str, Message]] = queue.Queue()
        self.method_responses: queue.Queue[Any] = queue.Queue()
        self.reported: list[Any] = []
        self.reported_event = threading.Event()
        self.connected = False
        self.closed = False

    def connect(self) -> None:
        self.connected = True

    def get_twin(self) -> dict[str, JSONObject]:
        return {"desired": dict(self.desired), "reported": {}}

    def patch_twin_reported_properties(self, reported_properties_patch: ReportedProperties) -> None:
        self.reported.append(reported_properties_patch)
        self.reported_event.set()

    def send_message_to_output(self, message: Any, output_name: str) -> None:
        self.outputs.put((output_name, message))

    def send_method_response(self, method_response: Any) -> None:
        self.method_responses.put(method_response)

    def shutdown(self) -> None:
        self.closed = True


def input_message(body: bytes | str, message_id: str) -> Message:
    message = Message(body)
    message.message_id = message_id
    message.input_name = "input1"
    return message
