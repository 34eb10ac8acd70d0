"""The hub's second listener, on 443 of the gateway host, as edgeHub has: HTTPS and MQTT over WebSockets.

* ``POST /twins/{device}/modules/{module}/methods?api-version=...``: a module calls another module's
  method (``IoTHubModuleClient.invoke_method(params, device_id, module_id)``).
* ``POST /twins/{device}/methods?api-version=...``: a module calls a leaf device's method.
  Both take edgeHub's ``MethodRequest`` (``methodName``, ``payload``, ``responseTimeoutInSeconds``,
  ``connectTimeoutInSeconds``) and answer as edgeHub's ``TwinsController``: 200
  ``{"status", "payload"}`` with the callee's answer, else ``{"message"}`` with 400 (bad request),
  401 (the caller is not who ``x-ms-edge-moduleId`` says, or not on this device), 404 (no such
  client, or not listening) or 504 (no answer in time).
* ``GET /$iothub/websocket`` with subprotocol ``mqtt``: the same MQTT sessions, dialect and
  authentication as 8883 (``create_from_edge_environment(websockets=True)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from edgesim.errors import HubError, MethodTargetNotFoundError, MethodTimeoutError
from edgesim.hub.connection import Connection
from edgesim.hub.topics import device_key
from edgesim.message import MAX_MESSAGE_BYTES
from edgesim.tasks import spawn

if TYPE_CHECKING:
    from edgesim.hub.server import Hub

log = logging.getLogger("edgesim.hub.gateway")

MAX_METHOD_BODY = 128 * 1024 + 4096  # IoT Hub's 128 KB method payload plus the request's own fields
MAX_RESPONSE_TIMEOUT_SECS = 300
JSON_TYPE = "application/json; charset=utf-8"


def _error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, text=json.dumps({"message": message}), content_type="application/json", charset="utf-8"
    )


class _WebSocketConnection(Connection):
    """MQTT bytes over one WebSocket; frames are written in order by a single writer task."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.closed = False
        self._pending: list[bytes] = []
        self._ready = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._writer = spawn(self._write_loop(), "hub:websocket-writer")
        self._closer: asyncio.Future[bool] | None = None

    def send(self, frame: bytes) -> None:
        if not self.closed:
            self._pending.append(frame)
            self._drained.clear()
            self._ready.set()

    async def _write_loop(self) -> None:
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._pending:
                    data, self._pending = b"".join(self._pending), []
                    await self.ws.send_bytes(data)
                self._drained.set()
        except (ConnectionError, RuntimeError):  # the socket went away under us
            self.close()
            self._drained.set()

    async def flush(self, force: bool = False) -> None:
        if force or sum(map(len, self._pending)) > 256 * 1024:
            await self._drained.wait()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._writer.cancel()
            self._drained.set()  # nothing more will be written: a flush() waiting now returns
            # Closing the socket ends the reader's receive(), as closing a TCP stream ends read().
            self._closer = spawn(self.ws.close(), "hub:websocket-close")

    async def wait_written(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


async def start_gateway(hub: Hub, tls: ssl.SSLContext, host: str, port: int) -> tuple[Gateway | None, str | None]:
    """The listener on ``host:port``, or ``None`` and why it is off (the MQTT side works without it)."""
    gateway = Gateway(hub, tls)
    try:
        await gateway.start(host, port)
    except PermissionError:
        return None, (
            f"port {port} needs root or CAP_NET_BIND_SERVICE: module-to-module methods, methods on "
            "leaf devices and MQTT over WebSockets are off"
        )
    except OSError as exc:
        # Often a web server on *:443 of a developer's machine: the MQTT side still works, so
        # run without these features and say why, rather than refuse to start.
        return None, (
            f"cannot listen on {host}:{port} ({exc.strerror or exc}; another --host 127.x.y.z avoids "
            "it): module-to-module methods, methods on leaf devices and MQTT over WebSockets are off"
        )
    return gateway, None


class Gateway:
    def __init__(self, hub: Hub, tls: ssl.SSLContext) -> None:
        self.hub = hub
        self._tls = tls
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()

    async def start(self, host: str, port: int) -> None:
        app = web.Application(client_max_size=MAX_METHOD_BODY)
        app.router.add_post("/twins/{device}/modules/{module}/methods", self._module_method)
        app.router.add_post("/twins/{device}/methods", self._device_method)
        app.router.add_get("/$iothub/websocket", self._websocket)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, ssl_context=self._tls, reuse_address=True).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        for ws in list(self._sockets):
            with contextlib.suppress(ConnectionError, RuntimeError):  # the peer went first
                await ws.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # ---- HTTPS: direct methods ----------------------------------------------------------
    async def _module_method(self, request: web.Request) -> web.Response:
        device, module = request.match_info["device"], request.match_info["module"]
        # A module of another device is not a client of this hub: 404 once the caller is authenticated.
        target = module if device == self.hub.config.device_id else None
        return await self._invoke(request, target, f"{device}/{module}")

    async def _device_method(self, request: web.Request) -> web.Response:
        device = request.match_info["device"]
        return await self._invoke(request, device_key(device), device)

    async def _invoke(self, request: web.Request, target: str | None, target_name: str) -> web.Response:
        caller_id = request.headers.get("x-ms-edge-moduleId")
        if not caller_id:
            return _error(400, "Invalid header value for x-ms-edge-moduleId")
        try:
            caller = self.hub.verify_module_token(caller_id, request.headers.get("Authorization", ""))
        except HubError as exc:
            return _error(401, str(exc))
        try:
            body = json.loads(await request.read())
        except (ValueError, RecursionError):
            return _error(400, "the request body is not JSON")
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"the request is larger than {MAX_METHOD_BODY} bytes")
        problem = _method_request_problem(body)
        if problem:
            return _error(400, problem)
        if target is None:
            return _error(404, f"Client {target_name} not found")
        try:
            status, payload = await self.hub.call_method(
                target,
                body["methodName"],
                body.get("payload"),
                float(body.get("responseTimeoutInSeconds", 30)),
                connect_timeout=float(body.get("connectTimeoutInSeconds", 0)),
                caller=caller,
            )
        except MethodTargetNotFoundError:
            return _error(404, f"Client {target_name} not found")
        except MethodTimeoutError:
            return _error(504, f"Timed out waiting for {target_name} to respond to method {body['methodName']}")
        return web.Response(
            status=200,
            text=json.dumps({"status": status, "payload": payload}),
            content_type="application/json",
            charset="utf-8",
        )

    # ---- MQTT over WebSockets -----------------------------------------------------------
    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=("mqtt",), max_msg_size=MAX_MESSAGE_BYTES + 128 * 1024)
        if not ws.can_prepare(request).ok:
            return _error(400, "expected a WebSocket upgrade")
        await ws.prepare(request)
        if ws.ws_protocol != "mqtt":
            await ws.close(code=1002, message=b"subprotocol mqtt required")
            return ws
        self._sockets.add(ws)
        connection = _WebSocketConnection(ws)
        try:
            await self.hub.serve_mqtt(connection, lambda: _next_binary(ws))
        finally:
            connection.close()
            await connection.wait_written()
            self._sockets.discard(ws)
        return ws


async def _next_binary(ws: web.WebSocketResponse) -> bytes:
    """The next binary frame's bytes; ``b""`` when the socket closes (MQTT over WebSockets is binary only)."""
    while True:
        message = await ws.receive()
        if message.type != WSMsgType.BINARY or not isinstance(message.data, bytes):
            return b""
        if message.data:  # an empty frame carries nothing; b"" would read as the end
            return message.data


def _method_request_problem(body: object) -> str | None:
    """edgeHub's ``MethodRequest`` validation, in one line; None when the request is good."""
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    name = body.get("methodName")
    if not isinstance(name, str) or not name:
        return "methodName is required"
    for field_name in ("responseTimeoutInSeconds", "connectTimeoutInSeconds"):
        value = body.get(field_name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_RESPONSE_TIMEOUT_SECS:
            return f"{field_name} must be a whole number of seconds from 0 to {MAX_RESPONSE_TIMEOUT_SECS}"
    return None


__all__ = ["Gateway"]
