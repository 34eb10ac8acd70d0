"""The message that flows through the hub: what a module sent, as routes and sinks see it.

System properties use IoT Hub's names (the ones route conditions write as ``$name``):
``messageId``, ``correlationId``, ``userId``, ``contentType``, ``contentEncoding``,
``expiryTimeUtc``, ``connectionDeviceId``, ``connectionModuleId``, ``outputName``,
``inputName``, ``enqueuedTime``. Application properties are the sender's custom properties.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_MESSAGE_BYTES = 256 * 1024  # IoT Hub's device-to-cloud message limit

SYSTEM_PROPERTY_NAMES = (
    "messageId",
    "correlationId",
    "userId",
    "contentType",
    "contentEncoding",
    "expiryTimeUtc",
    "connectionDeviceId",
    "connectionModuleId",
    "outputName",
    "inputName",
    "enqueuedTime",
)


@dataclass
class Message:
    """One message: body bytes, application properties and system properties."""

    body: bytes
    properties: dict[str, str] = field(default_factory=dict)
    system_properties: dict[str, str] = field(default_factory=dict)

    @property
    def source_module(self) -> str | None:
        return self.system_properties.get("connectionModuleId")

    @property
    def output_name(self) -> str | None:
        return self.system_properties.get("outputName")
