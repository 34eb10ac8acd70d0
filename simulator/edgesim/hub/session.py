"""The session layer: one identity's MQTT state, which outlives its connections (clean_session=False).

A ``Session`` holds what IoT Hub keeps for a module or leaf device between connections: its
subscriptions, the messages in flight on the current connection and the packet ids they use.
``Sessions`` is the table of them, keyed by identity (``module`` or ``devices/{id}``), with the
event that wakes whoever waits for an identity to connect or subscribe.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from edgesim.errors import HubError
from edgesim.hub import codec
from edgesim.hub.connection import Connection
from edgesim.hub.topics import Identity, Subscription
from edgesim.message import Message

IN_FLIGHT_WINDOW = 64  # unacknowledged input messages per module at once


@dataclass
class InFlight:
    seq: int | None  # the store's sequence number for input messages; None for the rest
    message: Message | None = None
    input_name: str = ""
    sent_at: float = 0.0  # time.monotonic() when it went out, for the send duration metric


class Session:
    """One per identity; outlives its connections."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.subscriptions: set[Subscription] = set()
        self.connection: Connection | None = None
        self.in_flight: dict[int, InFlight] = {}
        self.last_sent_seq = 0
        self.next_packet_id = 1
        self.wake = asyncio.Event()  # set when its input queue may have something to send
        self.pump: asyncio.Task[None] | None = None

    def packet_id(self) -> int:
        for _ in range(65535):
            candidate = self.next_packet_id
            self.next_packet_id = candidate % 65535 + 1
            if candidate not in self.in_flight:
                return candidate
        raise HubError("no free packet id")

    def listens(self, stream: Subscription) -> bool:
        return self.connection is not None and stream in self.subscriptions

    def input_room(self) -> int:
        """How many more input messages may go out before the receiver acknowledges some."""
        return IN_FLIGHT_WINDOW - sum(1 for f in self.in_flight.values() if f.seq is not None)

    def publish(self, topic: str, payload: bytes, in_flight: InFlight | None = None) -> None:
        """A QoS 1 PUBLISH on the current connection (nothing without one)."""
        if self.connection is None:
            return
        packet_id = self.packet_id()
        self.in_flight[packet_id] = in_flight or InFlight(None)
        self.connection.send(codec.encode_publish(topic, payload, qos=1, packet_id=packet_id))

    def attach(self, connection: Connection) -> None:
        """A new connection for the identity takes over from the old one."""
        if self.connection is not None and self.connection is not connection:
            self.connection.close()
        self.connection = connection
        self.in_flight.clear()
        self.last_sent_seq = 0

    def detach(self, connection: Connection) -> None:
        if self.connection is connection:
            self.connection = None
            self.in_flight.clear()

    def drop(self) -> None:
        """Close its connection and stop its delivery."""
        if self.connection is not None:
            self.connection.close()
        if self.pump is not None:
            self.pump.cancel()


class Sessions:
    """The sessions by identity key; ``changed`` is set on every connection and SUBSCRIBE."""

    def __init__(self) -> None:
        self._by_key: dict[str, Session] = {}
        self.changed = asyncio.Event()

    def get(self, key: str) -> Session | None:
        return self._by_key.get(key)

    def __getitem__(self, key: str) -> Session:
        return self._by_key[key]

    def pop(self, key: str) -> Session | None:
        """Forget an identity's session (a removed module or device); its connection closes."""
        session = self._by_key.pop(key, None)
        if session is not None:
            session.drop()
        return session

    def open(self, identity: Identity, clean_session: bool) -> tuple[Session, bool]:
        """The session for a new connection, and whether one was present (CONNACK's session present)."""
        session = self._by_key.get(identity.key)
        if session is not None and not clean_session:
            return session, True
        if session is not None:
            session.drop()
        session = self._by_key[identity.key] = Session(identity)
        return session, False

    def listens(self, key: str, stream: Subscription) -> bool:
        session = self._by_key.get(key)
        return session is not None and session.listens(stream)

    async def wait_listening(self, key: str, stream: Subscription, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``key`` to be connected and subscribed to ``stream``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.listens(key, stream) and loop.time() < deadline:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), deadline - loop.time())
        return self.listens(key, stream)

    def connected_modules(self) -> frozenset[str]:
        return frozenset(
            key for key, s in self._by_key.items() if s.connection is not None and not s.identity.is_device
        )

    def connected_devices(self) -> frozenset[str]:
        return frozenset(
            s.identity.device_id for s in self._by_key.values() if s.connection is not None and s.identity.is_device
        )

    def close_all(self) -> None:
        for session in self._by_key.values():
            session.drop()
