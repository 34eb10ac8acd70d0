"""The control API: HTTP/JSON on a loopback address, used by ``edgeship sim`` and by people.

* ``GET /v1/status``: the simulator, its modules and the hub's counters.
* ``POST /v1/modules/{m}/inputs/{i}``: ``{"body": <JSON>}`` or ``{"data": "<text>"}``, optional
  ``properties``, ``messageId``, ``correlationId``, ``contentType``, ``contentEncoding``
  -> 202 ``{"message": "accepted"}``.
* ``POST /api/v1/messages[?module=m]``: iotedgehubdev's ``{"inputName", "data", "messageId"?,
  "correlationId"?, "userId"?}`` -> 202 ``{"message": "accepted"}``.
* ``GET /v1/upstream?since=N&wait=S``: ``{"records": [...], "last_seq": N}``, waiting up to S s.
* ``POST /v1/upstream/offline`` / ``POST /v1/upstream/online``: take the link to the cloud down or
  up; ``GET /v1/upstream/link``: ``{"link", "pending", "expired", "delivered_after_outage"}``.
* ``POST /v1/modules/{m}/methods/{name}``: ``{"payload": <JSON>, "timeout": S}``
  -> ``{"status": N, "payload": <JSON>}``.
* ``GET /v1/modules/{m}/twin``; ``PATCH`` it with ``{"desired": <patch>}`` -> the twin.
  ``GET /v1/modules/$edgeAgent/twin`` (and ``$edgeHub``) shows the runtime's reported state.
* ``GET /v1/modules/{m}/logs?tail=N``: the module's log as text.
* ``POST /v1/stop``: 202, then the simulator stops.
* ``POST /v1/modules/$edgeAgent/methods/{name}``: edgeAgent's built-in methods (ping, RestartModule,
  GetModuleLogs, UploadModuleLogs, UploadSupportBundle, GetTaskStatus) -> ``{"status", "payload"}``.
* ``POST /v1/deploy`` ``{"manifest": PATH}``: redeploy in place -> ``{"added", "removed", "restarted":
  {name: [reasons]}, "unchanged", "patched", "routes_changed", "store_ttl_changed"}``; 400 for a bad manifest
  (nothing changed). ``POST /v1/modules/{m}/restart`` -> the module's state once it runs again; 409 when
  it is not running.
* Leaf devices: ``GET /v1/devices``; ``POST /v1/devices`` ``{"device_id"}`` -> 201
  ``{"device_id", "connection_string", "ca_cert"}``; ``GET`` / ``DELETE /v1/devices/{d}``;
  ``POST /v1/devices/{d}/messages`` (cloud-to-device: a send body plus optional ``ttl`` seconds)
  -> 202; ``POST /v1/devices/{d}/methods/{name}``; ``GET`` / ``PATCH /v1/devices/{d}/twin``.

Errors are ``{"message": "..."}`` with 400 (bad request), 404 (unknown module or path) or 405.
Module keys are never part of any answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from edgesim.agent.launcher import ModuleLaunchError
from edgesim.errors import SimulatorError, UnknownModuleError
from edgesim.httpserver import HttpError, HttpRequest, HttpResponse, HttpServer
from edgesim.jsontypes import JSONValue
from edgesim.message import MAX_MESSAGE_BYTES, Message

if TYPE_CHECKING:
    from edgesim.agent import ModuleState
    from edgesim.agent.reconcile import Plan
    from edgesim.hub import Hub

MAX_WAIT_SECS = 60.0
DEFAULT_C2D_TTL_SECS = 3600.0  # IoT Hub's default time to live for cloud-to-device messages
MAX_C2D_TTL_SECS = 48 * 3600.0  # and its maximum
MAX_METHOD_TIMEOUT_SECS = 300.0
MESSAGE_FIELDS = {
    "messageId": "messageId",
    "correlationId": "correlationId",
    "userId": "userId",
    "contentType": "contentType",
    "contentEncoding": "contentEncoding",
}


__all__ = ["ControlApi", "ControlTarget", "UnknownModuleError", "build_message"]


class ControlTarget(Protocol):
    """What the control API needs of the simulator it controls (``edgesim.runtime.Simulator``)."""

    @property
    def hub(self) -> Hub: ...

    def require_module(self, name: str) -> None:
        """``UnknownModuleError`` when the deployment has no module ``name``."""

    def running_modules(self) -> list[str]: ...

    def status(self) -> object: ...

    def request_stop(self) -> None: ...

    async def send(self, module: str, input_name: str, message: Message) -> None: ...

    def log_text(self, module: str, tail: int | None = None) -> str: ...

    def device_names(self) -> list[str]: ...

    def list_devices(self) -> list[dict[str, str | bool]]: ...

    def device_info(self, name: str) -> dict[str, str]: ...

    def add_device(self, name: str) -> dict[str, str]: ...

    def remove_device(self, name: str) -> None: ...

    async def deploy(self, manifest: Path) -> Plan: ...

    async def restart_module(self, name: str) -> ModuleState: ...


def _object(value: object, what: str) -> Mapping[str, JSONValue]:
    if not isinstance(value, Mapping):
        raise HttpError(400, f"{what} must be a JSON object")
    return value


def _string_map(value: object, what: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, item in _object(value, what).items():
        if not isinstance(item, (str, int, float)) or isinstance(item, bool):
            raise HttpError(400, f"{what}.{key} must be a string or number")
        result[str(key)] = str(item)
    return result


def build_message(request: Mapping[str, JSONValue]) -> Message:
    """A ``Message`` from a control API send body (ours or iotedgehubdev's)."""
    system: dict[str, str] = {}
    if "body" in request:
        body = json.dumps(request["body"], separators=(",", ":")).encode("utf-8")
        system.update(contentType="application/json", contentEncoding="utf-8")  # so $body routes see it
    elif "data" in request:
        data = request["data"]
        if not isinstance(data, str):
            raise HttpError(400, "data must be a string")
        body = data.encode("utf-8")
    else:
        raise HttpError(400, 'a message needs "body" (any JSON) or "data" (text)')
    if len(body) > MAX_MESSAGE_BYTES:
        raise HttpError(413, f"message body is {len(body)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    for field_name, system_name in MESSAGE_FIELDS.items():
        value = request.get(field_name)
        if value is not None:
            if not isinstance(value, str):
                raise HttpError(400, f"{field_name} must be a string")
            system[system_name] = value
    properties = _string_map(request.get("properties", {}), "properties")
    return Message(body=body, properties=properties, system_properties=system)


def _float(query: Mapping[str, str], name: str, default: float, maximum: float) -> float:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise HttpError(400, f"{name} must be a number") from None
    if not 0 <= value <= maximum:
        raise HttpError(400, f"{name} must be between 0 and {maximum:g}")
    return value


def _int(query: Mapping[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not text.isdigit():
        raise HttpError(400, f"{name} must be a non-negative integer")
    return int(text)


class ControlApi:
    """Serves the control API for one ``Simulator`` on ``host`` (a loopback address)."""

    def __init__(self, simulator: ControlTarget, host: str) -> None:
        self._sim = simulator
        self._host = host
        self._server = HttpServer(self.handle, "control API")

    async def start(self, port: int = 0) -> int:
        return await self._server.start_tcp(self._host, port)

    async def stop(self) -> None:
        await self._server.stop()

    def _module(self, name: str) -> str:
        try:
            self._sim.require_module(name)
        except UnknownModuleError as exc:
            raise HttpError(404, str(exc)) from None
        return name

    async def handle(self, request: HttpRequest) -> HttpResponse:
        parts = [part for part in request.path.split("/") if part]
        method = request.method
        if parts == ["v1", "status"]:
            self._only(method, "GET")
            return HttpResponse.json(200, self._sim.status())
        if parts == ["v1", "stop"]:
            self._only(method, "POST")
            # answer first, then stop: the reply must leave before the server closes.
            asyncio.get_running_loop().call_soon(self._sim.request_stop)
            return HttpResponse.json(202, {"message": "stopping"})
        if parts == ["v1", "upstream"]:
            self._only(method, "GET")
            return await self._upstream(request)
        if parts[:2] == ["v1", "upstream"] and len(parts) == 3:
            return self._upstream_link(method, parts[2])
        if parts == ["api", "v1", "messages"]:
            self._only(method, "POST")
            return await self._compat_send(request)
        if parts[:3] == ["v1", "modules", "$edgeAgent"] and len(parts) == 5 and parts[3] == "methods":
            self._only(method, "POST")
            return await self._invoke("$edgeAgent", parts[4], request)
        if parts[:2] == ["v1", "devices"]:
            return await self._devices(method, parts[2:], request)
        if parts == ["v1", "deploy"]:  # issue #18: redeploy in place
            self._only(method, "POST")
            return await self._deploy(request)
        if len(parts) == 4 and parts[:2] == ["v1", "modules"] and parts[3] == "restart":
            self._only(method, "POST")
            return await self._restart(self._module(parts[2]))
        if parts[:2] == ["v1", "modules"] and parts[2:3] in (["$edgeAgent"], ["$edgeHub"]) and parts[3:] == ["twin"]:
            self._only(method, "GET")  # the runtime's own twins: readable, written by the simulator only
            return HttpResponse.json(200, self._sim.hub.get_twin(parts[2]))
        if len(parts) >= 4 and parts[:2] == ["v1", "modules"]:
            module = self._module(parts[2])
            rest = parts[3:]
            if len(rest) == 2 and rest[0] == "inputs":
                self._only(method, "POST")
                message = build_message(_object(request.json(), "request body"))
                await self._sim.send(module, rest[1], message)
                return HttpResponse.json(202, {"message": "accepted"})
            if len(rest) == 2 and rest[0] == "methods":
                self._only(method, "POST")
                return await self._invoke(module, rest[1], request)
            if rest == ["twin"]:
                return await self._twin(module, request)
            if rest == ["logs"]:
                self._only(method, "GET")
                return HttpResponse.text(200, self._sim.log_text(module, _int(request.query, "tail", 0) or None))
        raise HttpError(404, f"no such control API resource: {method} {request.path}")

    @staticmethod
    def _only(method: str, allowed: str) -> None:
        if method != allowed:
            raise HttpError(405, f"this resource takes {allowed}")

    async def _compat_send(self, request: HttpRequest) -> HttpResponse:
        body = _object(request.json(), "request body")
        input_name = body.get("inputName")
        if not isinstance(input_name, str) or not input_name:
            raise HttpError(400, "inputName is required")
        module = request.query.get("module")
        if module is None:
            running = self._sim.running_modules()
            if len(running) != 1:
                raise HttpError(400, "several modules run; name one with ?module=NAME")
            module = running[0]
        message = build_message({key: value for key, value in body.items() if key != "inputName"})
        await self._sim.send(self._module(module), input_name, message)
        return HttpResponse.json(202, {"message": "accepted"})

    async def _upstream(self, request: HttpRequest) -> HttpResponse:
        since = _int(request.query, "since", 0)
        wait = _float(request.query, "wait", 0.0, MAX_WAIT_SECS)
        records = self._sim.hub.upstream_since(since)
        if not records and wait > 0:
            try:
                records = await self._sim.hub.wait_upstream(since, wait)
            except TimeoutError:
                records = []
        last = max((record.seq for record in records), default=since)
        return HttpResponse.json(200, {"records": [record.to_json() for record in records], "last_seq": last})

    def _upstream_link(self, method: str, action: str) -> HttpResponse:
        if action == "link":
            self._only(method, "GET")
            return HttpResponse.json(200, self._sim.hub.forwarding.link.state())
        if action in ("offline", "online"):
            self._only(method, "POST")
            return HttpResponse.json(200, self._sim.hub.forwarding.link.set_online(action == "online"))
        raise HttpError(404, f"no such control API resource: {method} /v1/upstream/{action}")

    async def _invoke(self, module: str, method_name: str, request: HttpRequest) -> HttpResponse:
        body = _object(request.json() or {}, "request body")
        timeout = body.get("timeout", 30)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout <= MAX_METHOD_TIMEOUT_SECS
        ):
            raise HttpError(400, f"timeout must be a number of seconds in (0, {MAX_METHOD_TIMEOUT_SECS:g}]")
        status, payload = await self._sim.hub.invoke_method(module, method_name, body.get("payload"), float(timeout))
        return HttpResponse.json(200, {"status": status, "payload": payload})

    async def _devices(self, method: str, rest: list[str], request: HttpRequest) -> HttpResponse:
        if not rest:
            if method == "GET":
                return HttpResponse.json(200, {"devices": self._sim.list_devices()})
            self._only(method, "POST")
            name = _object(request.json(), "request body").get("device_id")
            if not isinstance(name, str):
                raise HttpError(400, "device_id must be a string")
            return HttpResponse.json(201, self._sim.add_device(name))
        name = rest[0]
        if name not in self._sim.device_names():
            raise HttpError(404, f"no device named {name!r}")
        key = f"devices/{name}"
        if len(rest) == 1:
            if method == "DELETE":
                self._sim.remove_device(name)
                return HttpResponse.json(200, {"message": f"device {name} removed"})
            self._only(method, "GET")
            return HttpResponse.json(200, self._sim.device_info(name))
        if rest[1:] == ["messages"]:
            self._only(method, "POST")
            body = _object(request.json(), "request body")
            ttl = _float(
                {"ttl": str(body["ttl"])} if "ttl" in body else {}, "ttl", DEFAULT_C2D_TTL_SECS, MAX_C2D_TTL_SECS
            )
            message = build_message({k: v for k, v in body.items() if k != "ttl"})
            await self._sim.hub.send_to_device(name, message, ttl)
            return HttpResponse.json(202, {"message": "accepted"})
        if len(rest) == 3 and rest[1] == "methods":
            self._only(method, "POST")
            return await self._invoke(key, rest[2], request)
        if rest[1:] == ["twin"]:
            return await self._twin(key, request)
        raise HttpError(404, f"no such control API resource: {method} {request.path}")

    async def _deploy(self, request: HttpRequest) -> HttpResponse:
        path = _object(request.json(), "request body").get("manifest")
        if not isinstance(path, str) or not path:
            raise HttpError(400, "manifest must be the path of the manifest file")
        try:
            plan = await self._sim.deploy(Path(path))
        except SimulatorError as exc:  # the manifest was refused; the running deployment is as it was
            raise HttpError(400, str(exc)) from None
        return HttpResponse.json(200, plan.to_json())

    async def _restart(self, module: str) -> HttpResponse:
        try:
            state = await self._sim.restart_module(module)
        except ModuleLaunchError as exc:
            raise HttpError(409, str(exc)) from None
        except TimeoutError:
            raise HttpError(504, f"module {module} did not start again in time") from None
        return HttpResponse.json(200, state.to_json())

    async def _twin(self, module: str, request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            return HttpResponse.json(200, self._sim.hub.get_twin(module))
        if request.method == "PATCH":
            body = _object(request.json(), "request body")
            patch = _object(body.get("desired"), "desired")
            return HttpResponse.json(200, await self._sim.hub.patch_desired(module, patch))
        raise HttpError(405, "the twin takes GET or PATCH")
