"""What the module's MQTT connections share (both faces use paho 1.6 underneath): socket options and
the message paho hands ``on_message``."""

from __future__ import annotations

import logging
import socket
from typing import Protocol

log = logging.getLogger("edgeship_sentiment.tcp")


class PahoMessage(Protocol):
    """paho 1.6's ``MQTTMessage`` as its network thread passes it to ``on_message``."""

    qos: int
    mid: int
    topic: str
    payload: bytes


class Tunable(Protocol):
    """What paho hands ``on_socket_open``: a socket, an SSL socket or paho's websocket wrapper."""

    def setsockopt(self, level: int, option: int, value: int, /) -> None: ...


def set_tcp_nodelay(_client: object, _userdata: object, sock: Tunable) -> None:
    """A paho ``on_socket_open`` callback: Nagle's algorithm off on every (re)connected socket.

    paho 1.6 leaves Nagle on. A module that acknowledges an input (PUBACK, which the broker
    answers with nothing) and then publishes its result has that PUBLISH held until the broker's
    delayed TCP ACK arrives, tens of milliseconds later.
    """
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:  # not a TCP socket (a proxy, a test double): nothing to tune
        log.debug("TCP_NODELAY not set: %s", exc)
