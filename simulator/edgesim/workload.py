"""The workload API the module SDK calls for its trust bundle and SAS signatures, and the small
asyncio HTTP/1.1 server it (and the control API) runs on.

On a device ``aziot-edged`` serves this on a unix socket named by ``IOTEDGE_WORKLOADURI``; the
module SDK (``IoTEdgeHsm``) calls, through requests-unixsocket:

* ``GET /trust-bundle?api-version=V`` -> ``{"certificate": "<CA PEM>"}``
* ``POST /modules/{module}/genid/{genid}/sign?api-version=V`` with
  ``{"keyId": "primary", "algo": "HMACSHA256", "data": "<b64>"}`` -> ``{"digest": "<b64 HMAC>"}``

The key never leaves the simulator: modules only ever receive signatures. A sign request for a
module the simulator does not run, or with a generation id other than the one that module was
started with, is refused (404 / 403) just as the real daemon does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
import urllib.parse
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgesim import sas
from edgesim.errors import SimulatorError

log = logging.getLogger(__name__)

MAX_REQUEST_BODY = 1024 * 1024  # the largest control API body is one 256 KB message, JSON-encoded
MAX_HEADER_LINES = 100
REASONS = {200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
           500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
           504: "Gateway Timeout"}


class WorkloadError(SimulatorError):
    """The workload API cannot start (socket path unusable, ...)."""


# ---------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 server: Content-Length bodies, keep-alive, one handler coroutine per request.
# The workload and control APIs need nothing more, and this keeps the simulator free of a web
# framework dependency.


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # decoded path without the query
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; raises ``HttpError(400)`` when it is not."""
        try:
            return json.loads(self.body.decode("utf-8")) if self.body else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(400, f"request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise HttpError(400, "request body is nested too deeply") from None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: Any) -> HttpResponse:
        return cls(status, json.dumps(value).encode("utf-8"))

    @classmethod
    def text(cls, status: int, text: str) -> HttpResponse:
        return cls(status, text.encode("utf-8"), "text/plain; charset=utf-8")


class HttpError(Exception):
    """Raised by a handler to answer with an error status and ``{"message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


async def _read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    request_line = await reader.readline()
    if not request_line:
        return None
    parts = request_line.decode("latin-1").strip().split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "malformed request line")
    method, target, _ = parts
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        line = (await reader.readline()).decode("latin-1")
        if line in ("\r\n", "\n", ""):
            break
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, "malformed header line")
        headers[name.strip().lower()] = value.strip()
    else:
        raise HttpError(400, "too many header lines")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise HttpError(400, "bad Content-Length")
    length = int(length_text)
    if length > MAX_REQUEST_BODY:
        raise HttpError(413, f"request body larger than {MAX_REQUEST_BODY} bytes")
    body = await reader.readexactly(length) if length else b""
    url = urllib.parse.urlsplit(target)
    query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
    return HttpRequest(method.upper(), urllib.parse.unquote(url.path), query, headers, body)


def _encode_response(response: HttpResponse, keep_alive: bool) -> bytes:
    reason = REASONS.get(response.status, "Unknown")
    lines = [f"HTTP/1.1 {response.status} {reason}", f"Content-Length: {len(response.body)}",
             f"Connection: {'keep-alive' if keep_alive else 'close'}"]
    if response.body or response.status != 204:
        lines.append(f"Content-Type: {response.content_type}")
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


def _error_response(status: int, message: str) -> HttpResponse:
    return HttpResponse.json(status, {"message": message})


class HttpServer:
    """Serves one handler on a TCP address or a unix socket until ``stop()``."""

    def __init__(self, handler: Handler, name: str) -> None:
        self._handler = handler
        self._name = name
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start_tcp(self, host: str, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def start_unix(self, path: Path) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=str(path))

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except HttpError as exc:
                    writer.write(_encode_response(_error_response(exc.status, exc.message), keep_alive=False))
                    await writer.drain()
                    return
                if request is None:
                    return
                response = await self._dispatch(request)
                keep_alive = request.headers.get("connection", "").lower() != "close"
                writer.write(_encode_response(response, keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._connections.discard(task)
            writer.close()

    async def _dispatch(self, request: HttpRequest) -> HttpResponse:
        try:
            return await self._handler(request)
        except HttpError as exc:
            return _error_response(exc.status, exc.message)
        except SimulatorError as exc:
            return _error_response(400, str(exc))
        except Exception:  # a bug in a handler: answer 500 and keep serving, but never hide it
            log.exception("%s: unhandled error for %s %s", self._name, request.method, request.path)
            return _error_response(500, "internal error; see the simulator log")


# ---------------------------------------------------------------------------------------------
# The workload API proper.


@dataclass(frozen=True)
class WorkloadIdentity:
    key: str  # base64 primary key: never sent to anyone
    generation_id: str


class WorkloadApi:
    """Serves trust bundle and ``sign`` for the given module identities on a unix socket."""

    def __init__(self, socket_path: Path, trust_bundle_pem: str, identities: Mapping[str, WorkloadIdentity]) -> None:
        self.socket_path = socket_path
        self._trust_bundle = trust_bundle_pem
        self._identities = dict(identities)
        self._server = HttpServer(self.handle, "workload API")
        self._module_servers: list[tuple[HttpServer, Path]] = []
        self.served: Counter[str] = Counter()  # answered requests per kind, for status and tests

    def set_identities(self, identities: Mapping[str, WorkloadIdentity]) -> None:
        """A redeploy: sign for these modules from now on (a removed module's signatures are refused)."""
        self._identities = dict(identities)

    @property
    def uri(self) -> str:
        """The value for ``IOTEDGE_WORKLOADURI``."""
        return f"unix://{self.socket_path}"

    async def start(self) -> None:
        directory = self.socket_path.parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        if len(str(self.socket_path).encode()) > 100:  # sun_path is 108 bytes on Linux
            raise WorkloadError(f"workload socket path too long for a unix socket: {self.socket_path}")
        if self.socket_path.exists() or self.socket_path.is_symlink():
            self.socket_path.unlink()  # a stale socket of a simulator that was killed
        # umask makes the socket 0600 at creation, so there is no window where others can connect.
        old_umask = os.umask(0o177)
        try:
            await self._server.start_unix(self.socket_path)
        except OSError as exc:
            raise WorkloadError(f"cannot listen on {self.socket_path}: {exc.strerror or exc}") from None
        finally:
            os.umask(old_umask)

    async def stop(self) -> None:
        await self._server.stop()
        if self.socket_path.exists():
            self.socket_path.unlink()
        servers, self._module_servers = self._module_servers, []
        for server, path in servers:
            await server.stop()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def serve_module(self, module: str, path: Path) -> None:
        """A socket for one container, as aziot-edged gives each module its own.

        The container's user is not the simulator's, so the socket is 0666; it sits in a 0700
        folder that only the engine (root) reaches to bind-mount it, and it signs for ``module`` only.
        """

        async def handler(request: HttpRequest) -> HttpResponse:
            segments = request.path.strip("/").split("/")
            if len(segments) >= 2 and segments[0] == "modules" and segments[1] != module:
                raise HttpError(403, f"this socket belongs to module {module}")
            return await self.handle(request)

        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
        if len(str(path).encode()) > 100:
            raise WorkloadError(f"workload socket path too long for a unix socket: {path}")
        if path.exists() or path.is_symlink():
            path.unlink()
        server = HttpServer(handler, f"workload API ({module})")
        try:
            await server.start_unix(path)
        except OSError as exc:
            raise WorkloadError(f"cannot listen on {path}: {exc.strerror or exc}") from None
        os.chmod(path, 0o666)
        self._module_servers.append((server, path))

    async def handle(self, request: HttpRequest) -> HttpResponse:
        if "api-version" not in request.query:
            raise HttpError(400, "missing api-version query parameter")
        segments = request.path.strip("/").split("/")
        if segments == ["trust-bundle"]:
            if request.method != "GET":
                raise HttpError(405, "trust-bundle takes GET")
            self.served["trust-bundle"] += 1
            return HttpResponse.json(200, {"certificate": self._trust_bundle})
        if len(segments) == 5 and segments[0] == "modules" and segments[2] == "genid" and segments[4] == "sign":
            if request.method != "POST":
                raise HttpError(405, "sign takes POST")
            digest = self._sign(segments[1], segments[3], request.json())
            self.served["sign"] += 1
            return HttpResponse.json(200, {"digest": digest})
        raise HttpError(404, f"no such workload API resource: {request.path}")

    def _sign(self, module: str, generation_id: str, payload: Any) -> str:
        identity = self._identities.get(module)
        if identity is None:
            raise HttpError(404, f"module not found: {module}")
        if generation_id != identity.generation_id:
            raise HttpError(403, f"wrong generation id for module {module}")
        if not isinstance(payload, Mapping):
            raise HttpError(400, "sign request body must be a JSON object")
        if payload.get("keyId") != "primary" or payload.get("algo") != "HMACSHA256":
            raise HttpError(400, 'sign supports keyId "primary" with algo "HMACSHA256" only')
        data = payload.get("data")
        if not isinstance(data, str):
            raise HttpError(400, "sign request lacks base64 data")
        try:
            raw = base64.b64decode(data, validate=True)
        except binascii.Error:
            raise HttpError(400, "sign request data is not base64") from None
        return sas.sign(identity.key, raw)
