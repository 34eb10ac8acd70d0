"""Socket options for the module's MQTT connections (both faces use paho 1.6 underneath)."""

from __future__ import annotations

import logging
import socket
from typing import Any

log = logging.getLogger("edgeship_sentiment.tcp")


def set_tcp_nodelay(_client: Any, _userdata: Any, sock: Any) -> None:
    """A paho ``on_socket_open`` callback: Nagle's algorithm off on every (re)connected socket.

    paho 1.6 leaves Nagle on. A module that acknowledges an input (PUBACK, which the broker
    answers with nothing) and then publishes its result has that PUBLISH held until the broker's
    delayed TCP ACK arrives, tens of milliseconds later.
    """
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:  # not a TCP socket (a proxy, a test double): nothing to tune
        log.debug("TCP_NODELAY not set: %s", exc)
