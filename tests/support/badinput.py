"""Helpers of the bad-input and security tests (issue #9): a watched hub, raw CONNECT frames, the module's contract.

Built on the hub kit (``tests.support.hub``); the raw MQTT client lives in ``tests.support.rawmqtt``, the
in-memory SDK client in ``tests.support.module_client``, pickles of absent classes in ``tests.support.pickles``.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import ssl
import time
from pathlib import Path
from typing import Any

from edgeship_sentiment.payloads import MAX_BODY_BYTES, MAX_TEXTS
from edgesim import sas
from edgesim.hub import codec
from edgesim.hub.counters import HubStats
from tests.support.hub import DEVICE, HUB_HOSTNAME, HubThread

TESTS = Path(__file__).resolve().parent.parent
REPO_ROOT = TESTS.parent

EDGESHIP = REPO_ROOT / ".venv" / "bin" / "edgeship"
_addresses = itertools.count(1)

__all__ = [
    "EDGESHIP",
    "REPO_ROOT",
    "TESTS",
    "WatchedHub",
    "closed_by_server",
    "connect_frame",
    "is_valid_request",
    "next_address",
    "read_connack",
    "tls_socket",
    "token",
]


def next_address() -> str:
    """A distinct loopback address per hub (the hub kit's pattern, in a range of its own: 127.77.x.y)."""
    return f"127.77.{os.getpid() % 250}.{next(_addresses) % 250 + 1}"


class WatchedHub(HubThread):
    """A ``HubThread`` on its own loopback address that records every exception its loop did not handle."""

    def __init__(self, state_dir: Path, modules: list[str], routes: dict[str, Any], **kwargs: Any) -> None:
        kwargs.setdefault("host", next_address())
        super().__init__(state_dir, modules, routes, **kwargs)
        self.unhandled: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _loop, context: self.unhandled.append(context))

    def stats(self) -> HubStats:
        return self.run(self.hub.stats)

    def connected(self) -> frozenset[str]:
        return self.run(self.hub.connected_modules)

    def unhandled_errors(self) -> list[str]:
        import gc

        gc.collect()  # "Task exception was never retrieved" is reported when the task is collected
        self.call(_noop())
        return [f"{c.get('message')}: {c.get('exception')!r}" for c in self.unhandled]


async def _noop() -> None:
    return None


def tls_socket(hub: HubThread, timeout: float = 10) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(hub.certs.ca_cert))
    context.check_hostname = False
    raw = socket.create_connection((hub.host, 8883), timeout=timeout)
    return context.wrap_socket(raw, server_hostname=hub.host)


def token(module: str, key: str, expiry: int | None = None, device: str = DEVICE, hub: str = HUB_HOSTNAME) -> str:
    uri = sas.module_resource_uri(hub, device, module)
    return sas.build_token(uri, key, expiry if expiry is not None else int(time.time()) + 3600)


def connect_frame(
    module: str,
    password: str | bytes,
    keepalive: int = 60,
    client_module: str | None = None,
    user_module: str | None = None,
    clean: bool = False,
    device: str = DEVICE,
    hub: str = HUB_HOSTNAME,
) -> bytes:
    raw = password.encode() if isinstance(password, str) else password
    client = client_module or module
    user = user_module or module
    return codec.encode_connect(
        f"{device}/{client}",
        f"{hub}/{device}/{user}/?api-version=2019-10-01",
        raw,
        keepalive=keepalive,
        clean_session=clean,
    )


def read_connack(sock: ssl.SSLSocket, timeout: float = 10) -> int | None:
    """The CONNACK return code, or None when the hub closed the connection without one."""
    sock.settimeout(timeout)
    data = b""
    try:
        while len(data) < 4:
            chunk = sock.recv(4 - len(data))
            if not chunk:
                return None
            data += chunk
    except (ConnectionError, ssl.SSLError, OSError):
        return None
    assert data[0] >> 4 == codec.CONNACK, data
    return data[3]


def closed_by_server(sock: ssl.SSLSocket, timeout: float = 10) -> bool:
    """True when the hub closes the connection within ``timeout`` (data it sends first is skipped)."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            sock.settimeout(remaining)
            if not sock.recv(65536):
                return True
    except TimeoutError:
        return False
    except (ConnectionError, ssl.SSLError, OSError):
        return True


def is_valid_request(body: bytes | str) -> bool:
    """What the module's contract (modules/sentiment/README.md) accepts, decided without its code."""
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if len(raw) > MAX_BODY_BYTES:
        return False
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    if not isinstance(data, dict):
        return False
    if "text" in data:
        return isinstance(data["text"], str)
    texts = data.get("texts")
    return isinstance(texts, list) and len(texts) <= MAX_TEXTS and all(isinstance(t, str) for t in texts)
