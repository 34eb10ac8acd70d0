"""edgeHub's built-in Prometheus metrics: the names and labels of Microsoft's "built-in metrics" list.

Every metric carries ``iothub``, ``edge_device`` and ``instance_number`` (a GUID per run, as on a
device, so a restart shows as a new series). The registry is per simulator, never prometheus-client's
global one: several hubs run in one test process.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Summary

from edgesim.message import Message

COMMON = ("iothub", "edge_device", "instance_number")


def _source(message: Message) -> str:
    """edgeHub's ``from``: the sending module's ``{device}/{module}``, or a leaf device's id."""
    device = message.system_properties.get("connectionDeviceId", "")
    module = message.system_properties.get("connectionModuleId")
    return f"{device}/{module}" if module else device


class HubMetrics:
    def __init__(
        self,
        hub_hostname: str,
        device_id: str,
        registry: CollectorRegistry | None = None,
        instance_number: str | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.device_id = device_id
        self._common = {
            "iothub": hub_hostname,
            "edge_device": device_id,
            "instance_number": instance_number or str(uuid.uuid4()),
        }
        self.common = dict(self._common)
        r = self.registry
        # prometheus-client appends _total to counters on exposition: the names below are edgeHub's without it.
        self._received = Counter(
            "edgehub_messages_received", "Messages received from clients", (*COMMON, "route_output", "id"), registry=r
        )
        self._sent = Counter(
            "edgehub_messages_sent",
            "Messages sent to clients or upstream",
            (*COMMON, "from", "to", "from_route_output", "to_route_input", "priority"),
            registry=r,
        )
        self._send_duration = Summary(
            "edgehub_message_send_duration_seconds",
            "Time to send a message",
            (*COMMON, "from", "to", "from_route_output", "to_route_input"),
            registry=r,
        )
        self._size = Summary("edgehub_message_size_bytes", "Size of messages from clients", (*COMMON, "id"), registry=r)
        self._dropped = Counter(
            "edgehub_messages_dropped",
            "Messages removed because of their TTL",
            (*COMMON, "reason", "from", "from_route_output"),
            registry=r,
        )
        self._gettwin = Counter("edgehub_gettwin", "GetTwin calls", (*COMMON, "source", "id"), registry=r)
        self._reported = Counter(
            "edgehub_reported_properties", "Reported property updates", (*COMMON, "target", "id"), registry=r
        )
        self._methods = Counter("edgehub_direct_methods", "Direct method calls", (*COMMON, "from", "to"), registry=r)
        self._method_duration = Summary(
            "edgehub_direct_method_duration_seconds",
            "Time to answer a direct method",
            (*COMMON, "from", "to"),
            registry=r,
        )
        self._connect_failed = Counter(
            "edgehub_client_connect_failed", "Refused client connections", (*COMMON, "id", "reason"), registry=r
        )
        self.connected_clients = Gauge("edgehub_connected_clients", "Clients connected now", COMMON, registry=r).labels(
            **self._common
        )
        self.queue_length = Gauge(
            "edgehub_queue_length", "Messages waiting for delivery", (*COMMON, "endpoint", "priority"), registry=r
        )

    def _client(self, key: str) -> str:
        if key.startswith("devices/"):
            return key.removeprefix("devices/")
        return f"{self.device_id}/{key}"

    def message_received(self, message: Message, key: str, size: int) -> None:
        client = self._client(key)
        self._received.labels(
            **self._common, route_output=message.system_properties.get("outputName", ""), id=client
        ).inc()
        self._size.labels(**self._common, id=client).observe(size)

    def message_sent(self, message: Message, to: str, to_input: str, duration: float | None = None) -> None:
        target = to if to == "upstream" else self._client(to)
        labels = {
            "from": _source(message),
            "to": target,
            "from_route_output": message.system_properties.get("outputName", ""),
            "to_route_input": to_input,
        }
        self._sent.labels(**self._common, **labels, priority="2000000000").inc()
        if duration is not None:
            self._send_duration.labels(**self._common, **labels).observe(duration)

    def message_dropped(self, message: Message, reason: str) -> None:
        self._dropped.labels(
            **self._common,
            reason=reason,
            **{"from": _source(message)},
            from_route_output=message.system_properties.get("outputName", ""),
        ).inc()

    def messages_dropped_unknown(self, count: int, reason: str) -> None:
        """Expired by the periodic sweep, which deletes without reading who sent them."""
        self._dropped.labels(**self._common, reason=reason, **{"from": ""}, from_route_output="").inc(count)

    def gettwin(self, key: str) -> None:
        self._gettwin.labels(**self._common, source="edge_hub", id=self._client(key)).inc()

    def reported_properties(self, key: str) -> None:
        self._reported.labels(**self._common, target="edge_hub", id=self._client(key)).inc()

    def connect_failed(self, client_id: str, reason: str) -> None:
        self._connect_failed.labels(**self._common, id=client_id, reason=reason).inc()

    @contextmanager
    def direct_method(self, caller: str, target: str) -> Iterator[None]:
        labels = {"from": caller if caller.startswith("$") else self._client(caller), "to": self._client(target)}
        self._methods.labels(**self._common, **labels).inc()
        started = time.monotonic()
        try:
            yield
        finally:
            self._method_duration.labels(**self._common, **labels).observe(time.monotonic() - started)
