"""An open session's MQTT packets, handed to the layers above: PUBACKs, subscriptions, publishes.

A PUBACK deletes the delivered message from the store; SUBSCRIBE and UNSUBSCRIBE change what the
identity listens for (its own topics only); a PUBLISH is an output message into routing, a twin GET
or reported patch, or a method's answer, and anything else closes the connection. ``Hub`` (``server``)
owns one ``PacketHandler`` and gives it its parts; this module sits between ``dialect`` and ``server``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from edgesim.hub import codec
from edgesim.hub.connection import Connection
from edgesim.hub.counters import HubCounters
from edgesim.hub.dialect import MethodCalls, Twins, output_message
from edgesim.hub.forwarding import Forwarding
from edgesim.hub.limits import StoreFullError
from edgesim.hub.metrics import HubMetrics
from edgesim.hub.session import Session, Sessions
from edgesim.hub.store import HubStore
from edgesim.hub.topics import (
    MethodResponse,
    OutputPublish,
    ReportedPatch,
    TwinGet,
    allowed_subscription,
    classify_publish,
)
from edgesim.message import MAX_MESSAGE_BYTES, Message

log = logging.getLogger("edgesim.hub")


class HubParts(Protocol):
    """What the packets reach in the running hub (``Hub`` has them; each part raises when it is not running)."""

    counters: HubCounters
    metrics: HubMetrics

    @property
    def store(self) -> HubStore: ...

    @property
    def twins(self) -> Twins: ...

    @property
    def forwarding(self) -> Forwarding: ...


class PacketHandler:
    """The packets of every session, one at a time; ``route`` takes an accepted output message."""

    def __init__(
        self, hub: HubParts, sessions: Sessions, methods: MethodCalls, route: Callable[[Message], None]
    ) -> None:
        self.hub = hub
        self.sessions = sessions
        self.methods = methods
        self.route = route

    def handle(self, session: Session, packet: codec.Packet) -> None:
        connection = session.connection
        assert connection is not None
        if isinstance(packet, codec.Publish):
            self._publish(session, connection, packet)
        elif isinstance(packet, codec.PacketId) and packet.kind == codec.PUBACK:
            in_flight = session.in_flight.pop(packet.packet_id, None)
            if in_flight is not None and in_flight.seq is not None:
                self.hub.store.delete(in_flight.seq)
                self.hub.counters.delivered += 1
                if in_flight.message is not None:
                    self.hub.metrics.message_sent(
                        in_flight.message,
                        session.identity.key,
                        in_flight.input_name,
                        time.monotonic() - in_flight.sent_at,
                    )
                session.wake.set()
        elif isinstance(packet, codec.Subscribe):
            codes = []
            for topic_filter, qos in packet.filters:
                stream = allowed_subscription(session.identity, topic_filter)
                if stream is None:
                    self.hub.counters.forbidden += 1
                    log.warning("%s may not subscribe to %r", session.identity.key, topic_filter)
                    codes.append(codec.SUBACK_FAILURE)
                else:
                    session.subscriptions.add(stream)
                    codes.append(min(qos, 1))
            connection.send(codec.encode_suback(packet.packet_id, codes))
            session.wake.set()
            self.sessions.changed.set()
        elif isinstance(packet, codec.Unsubscribe):
            for topic_filter in packet.filters:
                stream = allowed_subscription(session.identity, topic_filter)
                if stream is not None:
                    session.subscriptions.discard(stream)
            connection.send(codec.encode_unsuback(packet.packet_id))
        elif isinstance(packet, codec.Simple) and packet.kind == codec.PINGREQ:
            connection.send(codec.encode_pingresp())
        elif isinstance(packet, codec.Simple) and packet.kind == codec.DISCONNECT:
            connection.close()
        elif isinstance(packet, codec.Connect):
            raise codec.ProtocolError("a second CONNECT")
        else:
            raise codec.ProtocolError(f"unexpected packet {type(packet).__name__}")

    def _publish(self, session: Session, connection: Connection, packet: codec.Publish) -> None:
        if packet.qos == 2:
            raise codec.ProtocolError("QoS 2 is not supported by IoT Hub")
        identity = session.identity
        kind = classify_publish(identity, packet.topic)
        if kind is None:
            self.hub.counters.forbidden += 1
            log.warning("%s may not publish to %r; closing its connection", identity.key, packet.topic)
            connection.close()
            return
        if isinstance(kind, OutputPublish):
            if not self._accept_output(session, connection, kind, packet.payload):
                return
        elif isinstance(kind, TwinGet):
            self.hub.metrics.gettwin(identity.key)
            self.hub.twins.answer_get(session, kind.rid)
        elif isinstance(kind, ReportedPatch):
            self.hub.metrics.reported_properties(identity.key)
            self.hub.twins.answer_reported(session, kind.rid, packet.payload)
        elif isinstance(kind, MethodResponse):
            self.methods.answer(identity.key, kind.rid, kind.status, packet.payload)
        if packet.qos == 1 and packet.packet_id is not None and not connection.closed:
            connection.send(codec.encode_puback(packet.packet_id))

    def _accept_output(self, session: Session, connection: Connection, kind: OutputPublish, payload: bytes) -> bool:
        """An output (telemetry) message into routing; False when it was refused and the connection closed."""
        identity = session.identity
        if len(payload) > MAX_MESSAGE_BYTES:
            # IoT Hub closes the connection of a device that sends more than 256 KB.
            self.hub.counters.rejected += 1
            log.warning("%s sent %d bytes, over the %d limit", identity.key, len(payload), MAX_MESSAGE_BYTES)
            connection.close()
            return False
        self.hub.counters.received += 1
        message = output_message(identity, kind, payload, _now_iso())
        self.hub.metrics.message_received(message, identity.key, len(payload))
        try:
            self.hub.forwarding.guarded(message, lambda: self.route(message))
        except StoreFullError as exc:
            # edgeHub's MQTT head shuts the channel when a publish fails: no PUBACK, so the
            # sender still holds the message (paho resends it after reconnecting, or the SDK
            # reports the failure): refused, never silently dropped.
            log.warning("refused a message from %s: %s; closing its connection", identity.key, exc)
            connection.close()
            return False
        return True


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


__all__ = ["HubParts", "PacketHandler"]
