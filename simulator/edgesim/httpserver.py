"""A minimal asyncio HTTP/1.1 server: Content-Length bodies, keep-alive, one handler coroutine per request.

The workload API (on a unix socket) and the control API (on a loopback port) need nothing more,
and this keeps the simulator free of a web framework dependency for them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgesim.errors import SimulatorError
from edgesim.jsontypes import JSONValue

log = logging.getLogger("edgesim.http")

MAX_REQUEST_BODY = 1024 * 1024  # the largest control API body is one 256 KB message, JSON-encoded
MAX_HEADER_LINES = 100
REASONS = {
    200: "OK",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # decoded path without the query
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> JSONValue:
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
    def json(cls, status: int, value: object) -> HttpResponse:
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
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Length: {len(response.body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
    ]
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
