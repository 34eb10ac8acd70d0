"""The HTTP server under the module's HTTP face: uvicorn (httptools parser) on asyncio.

Chosen by measurement against aiohttp (``modules/sentiment/README.md``). What this module adds
around it, and why:

- The listening socket is ours (``listen_socket``): a backlog of 2,048 (``ThreadingHTTPServer``'s
  5 reset 32 clients that connected at once), ``SO_REUSEADDR``, port 0 for tests, and the port
  known before the server starts. Every accepted connection has TCP_NODELAY, so a reply's
  header and body writes never wait for the client's delayed ACK (40 ms with Nagle).
- Keep-alive (idle connections closed after ``KEEP_ALIVE_SECONDS``), a bound on the request body
  (``read_body``) and on each request's time (``REQUEST_TIMEOUT_SECONDS``, applied by the apps).
- ``shutdown()`` is graceful: stop accepting, let in-flight requests finish (at most
  ``GRACE_SECONDS``), close idle keep-alive connections, then return.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import TypedDict

import uvicorn

from edgeship_sentiment.errors import BadRequestError


class Scope(TypedDict, total=False):
    """An ASGI HTTP connection scope: the keys this package reads (uvicorn's holds more)."""

    type: str
    method: str
    path: str
    query_string: bytes
    headers: Iterable[tuple[bytes, bytes]]


class Message(TypedDict, total=False):
    """An ASGI event: received (``http.request``, ``http.disconnect``) or sent (``http.response.*``)."""

    type: str
    body: bytes
    more_body: bool
    status: int
    headers: list[tuple[bytes, bytes]]


Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BACKLOG = 2048
KEEP_ALIVE_SECONDS = 75  # longer than common client pools' idle time, as Azure's front ends do
GRACE_SECONDS = 30.0
REQUEST_TIMEOUT_SECONDS = 60.0


class BodyTooLargeError(BadRequestError):
    """The request body is over the face's limit (the reply is 413)."""


def listen_socket(host: str, port: int, backlog: int = BACKLOG) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # accepted sockets inherit the listener's proto. With proto 0 every keep-alive reply (headers
    # and body in two writes) waited for the client's delayed ACK: p50 44 ms (the test caught it).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # Linux: accepted sockets inherit it
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, or ``BodyTooLargeError`` as soon as it passes ``limit`` (chunked bodies too)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(f"body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (names arrive lower-cased), as latin-1 text."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def respond(
    send: Send, status: int, body: bytes, content_type: str, headers: list[tuple[str, str]] | None = None
) -> None:
    raw = [(b"content-type", content_type.encode("latin-1")), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers or ()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def respond_json(send: Send, status: int, payload: object, headers: list[tuple[str, str]] | None = None) -> None:
    await respond(send, status, json.dumps(payload).encode("utf-8"), "application/json", headers)


class _Server(uvicorn.Server):
    """uvicorn's server, telling a waiting thread when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()


class HTTPServer:
    """One ASGI app on one socket, served from a background thread (the faces share the process)."""

    def __init__(
        self, app: ASGIApp, host: str, port: int, *, name: str = "sentiment-http", sock: socket.socket | None = None
    ) -> None:
        self.sock = sock or listen_socket(host, port)
        config = uvicorn.Config(
            app,
            http="httptools",
            loop="asyncio",
            lifespan="off",
            interface="asgi3",
            backlog=BACKLOG,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=int(GRACE_SECONDS),
            access_log=False,
            log_config=None,
            log_level="warning",
            server_header=False,
            date_header=False,
        )
        self._server = _Server(config)
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.error: BaseException | None = None

    def _serve(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self.sock]))
        except BaseException as exc:  # noqa: BLE001 - uvicorn ends a failed start with sys.exit (SystemExit);
            # whatever ends the server thread is reported to start_background's caller, not lost in the thread
            self.error = exc
            self._server.listening.set()

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"

    def start_background(self, timeout: float = 30.0) -> HTTPServer:
        self._thread.start()
        if not self._server.listening.wait(timeout) or self.error is not None:
            raise RuntimeError(f"the HTTP server did not start: {self.error!r}")
        return self

    def shutdown(self, timeout: float = GRACE_SECONDS + 5) -> None:
        """Stop accepting, finish in-flight requests, close the connections; returns when done."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)

    def server_close(self) -> None:
        self.sock.close()
