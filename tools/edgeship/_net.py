"""A free TCP port, for the servers edgeship starts on this machine (always a loopback host)."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    # The port is free when this returns; a racing process could take it before the caller binds,
    # which the callers accept (their servers fail loudly and say so).
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
