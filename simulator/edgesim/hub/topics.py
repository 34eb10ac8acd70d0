"""IoT Hub's MQTT topics for one identity (a module, or a leaf device), as pure functions (no I/O, no state).

Property bags travel in one topic segment as URL-encoded ``key=value`` pairs joined by ``&``,
exactly as azure-iot-device 2.14 writes and reads them (``urllib.parse.quote`` with nothing
safe, never ``+`` for spaces).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

# System property keys in topics <-> IoT Hub system property names.
TOPIC_SYSTEM_KEYS = {
    "$.mid": "messageId",
    "$.cid": "correlationId",
    "$.uid": "userId",
    "$.ct": "contentType",
    "$.ce": "contentEncoding",
    "$.exp": "expiryTimeUtc",
    "$.on": "outputName",
    "$.cdid": "connectionDeviceId",
    "$.cmid": "connectionModuleId",
}
DELIVERED_SYSTEM_KEYS = (
    "messageId",
    "correlationId",
    "userId",
    "contentType",
    "contentEncoding",
    "expiryTimeUtc",
    "connectionDeviceId",
    "connectionModuleId",
)
NAME_TO_TOPIC_KEY = {name: key for key, name in TOPIC_SYSTEM_KEYS.items()}


def parse_property_bag(segment: str) -> tuple[dict[str, str], dict[str, str]]:
    """``$.mid=1&$.on=out&temp=5`` -> (system properties by IoT Hub name, application properties)."""
    system: dict[str, str] = {}
    application: dict[str, str] = {}
    if not segment:
        return system, application
    for pair in segment.split("&"):
        if not pair:
            continue
        key_text, _, value_text = pair.partition("=")
        key, value = unquote(key_text), unquote(value_text)
        if key in TOPIC_SYSTEM_KEYS:
            system[TOPIC_SYSTEM_KEYS[key]] = value
        elif key.startswith("$."):
            continue  # other system keys (e.g. $.ifid) are not routed
        else:
            application[key] = value
    return system, application


def encode_property_bag(system: dict[str, str], application: dict[str, str]) -> str:
    pairs = [(NAME_TO_TOPIC_KEY[name], system[name]) for name in DELIVERED_SYSTEM_KEYS if name in system]
    pairs += sorted(application.items())
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


DEVICE_KEY_PREFIX = "devices/"


def device_key(device_id: str) -> str:
    """The hub's key for a leaf device: module names cannot hold a ``/``, so it never names a module."""
    return f"{DEVICE_KEY_PREFIX}{device_id}"


@dataclass(frozen=True)
class Identity:
    device_id: str
    module_id: str | None = None  # None: a leaf (downstream) device

    @property
    def is_device(self) -> bool:
        return self.module_id is None

    @property
    def key(self) -> str:
        """What the hub's sessions, twins and queues are keyed by."""
        return device_key(self.device_id) if self.module_id is None else self.module_id

    @property
    def base(self) -> str:
        if self.module_id is None:
            return f"devices/{self.device_id}"
        return f"devices/{self.device_id}/modules/{self.module_id}"

    @property
    def input_filter(self) -> str:
        # A device's queue is its cloud-to-device messages; a module's, its inputs.
        if self.module_id is None:
            return f"{self.base}/messages/devicebound/#"
        return f"{self.base}/inputs/#"

    def input_topic(self, input_name: str, system: dict[str, str], application: dict[str, str]) -> str:
        if self.module_id is None:
            return f"{self.base}/messages/devicebound/{encode_property_bag(system, application)}"
        return f"{self.base}/inputs/{quote(input_name, safe='')}/{encode_property_bag(system, application)}"


TWIN_RESPONSE_FILTER = "$iothub/twin/res/#"
DESIRED_PATCH_FILTER = "$iothub/twin/PATCH/properties/desired/#"
METHODS_FILTER = "$iothub/methods/POST/#"

Subscription = Literal["inputs", "twin_responses", "desired_patches", "methods"]


def allowed_subscription(identity: Identity, topic_filter: str) -> Subscription | None:
    """Which of the identity's own streams a filter asks for; ``None`` for anything else."""
    if topic_filter == identity.input_filter:
        return "inputs"
    if topic_filter == TWIN_RESPONSE_FILTER:
        return "twin_responses"
    if topic_filter == DESIRED_PATCH_FILTER:
        return "desired_patches"
    if topic_filter == METHODS_FILTER:
        return "methods"
    return None


def _query(topic: str) -> dict[str, str]:
    _, _, query = topic.partition("?")
    result: dict[str, str] = {}
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        if sep:
            result[unquote(key)] = unquote(value)
    return result


@dataclass(frozen=True)
class OutputPublish:
    system: dict[str, str]
    application: dict[str, str]


@dataclass(frozen=True)
class TwinGet:
    rid: str


@dataclass(frozen=True)
class ReportedPatch:
    rid: str


@dataclass(frozen=True)
class MethodResponse:
    rid: str
    status: int


PublishKind = OutputPublish | TwinGet | ReportedPatch | MethodResponse


def classify_publish(identity: Identity, topic: str) -> PublishKind | None:
    """What a module's PUBLISH means; ``None`` for a topic this identity may not publish to."""
    events = f"{identity.base}/messages/events/"
    if topic.startswith(events):
        system, application = parse_property_bag(topic[len(events) :])
        return OutputPublish(system, application)
    if topic.startswith("$iothub/twin/GET/"):
        rid = _query(topic).get("$rid")
        return TwinGet(rid) if rid else None
    if topic.startswith("$iothub/twin/PATCH/properties/reported/"):
        rid = _query(topic).get("$rid")
        return ReportedPatch(rid) if rid else None
    if topic.startswith("$iothub/methods/res/"):
        parts = topic.split("/")
        rid = _query(topic).get("$rid")
        # isdigit() alone also accepts digits int() refuses (e.g. "²"): the status must be ASCII.
        if len(parts) >= 5 and parts[3].isascii() and parts[3].isdigit() and rid:
            return MethodResponse(rid, int(parts[3]))
    return None


def twin_response_topic(status: int, rid: str, version: int | None = None) -> str:
    suffix = f"&$version={version}" if version is not None else ""
    return f"$iothub/twin/res/{status}/?$rid={quote(rid, safe='')}{suffix}"


def desired_patch_topic(version: int) -> str:
    return f"$iothub/twin/PATCH/properties/desired/?$version={version}"


def method_request_topic(method_name: str, rid: str) -> str:
    return f"$iothub/methods/POST/{quote(method_name, safe='')}/?$rid={quote(rid, safe='')}"


def parse_username(username: str) -> tuple[str, str, str | None] | None:
    """``{hub}/{device}/{module}/?api-version=...`` -> (hub, device, module);
    a device's ``{hub}/{device}/?api-version=...`` -> (hub, device, None)."""
    path, _, _ = username.partition("/?")
    parts = path.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        return None
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None
