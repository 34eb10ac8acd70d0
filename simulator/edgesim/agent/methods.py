"""edgeAgent's built-in direct methods on ``$edgeAgent``, per Microsoft's "Communicate with edgeAgent
using built-in direct methods" and edgeAgent's request handlers (read, not copied).

* ``ping`` -> 200, no payload.
* ``RestartModule`` ``{"schemaVersion": "1.0", "id": NAME}`` -> 200, no payload, once the module runs again.
* ``GetModuleLogs`` ``{"schemaVersion", "items": [{"id": REGEX, "filter": {tail, since, until, loglevel,
  regex}}], "encoding": "none"|"gzip", "contentType": "text"|"json"}`` -> 200 ``[{"id", "payload"}]``
  (``"payloadBytes"``, base64 of gzip, with ``gzip``).
* ``UploadModuleLogs`` / ``UploadSupportBundle`` start a task and answer ``{"status", "message",
  "correlationId"}``; ``GetTaskStatus`` ``{"correlationId"}`` reports it. The simulator has no network,
  so only a ``file://`` directory works as the ``sasUrl``; any other URL makes the task fail with a
  message saying so (what GetTaskStatus shows for an upload that fails on a device).

Method names ignore case, as edgeAgent's. Errors are edgeAgent's: 400 ``{"message"}`` for a bad
request, an unknown method or a log request that would exceed 127,000 bytes; 500 for a module
that is not in the deployment (edgeAgent's InvalidOperationException).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import json
import logging
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from edgesim.agent.launcher import ModuleLaunchError
from edgesim.agent.logfilter import LogFilter, LogFilterError, matching_ids, parse_lines
from edgesim.agent.supervisor import RUNNING, Agent
from edgesim.errors import SimulatorError
from edgesim.jsontypes import JSONLike, JSONObject, JSONValue
from edgesim.tasks import spawn

log = logging.getLogger(__name__)

MAX_LOGS_PAYLOAD = 127_000  # edgeAgent: a method payload is at most 128 KB, less 1 KB of envelope
RESTART_WAIT_SECS = 60.0


class BadRequestError(SimulatorError):
    """edgeAgent answers 400 (its ArgumentException)."""


class NotFoundError(SimulatorError):
    """edgeAgent answers 500 (its InvalidOperationException, e.g. an unknown module)."""


@dataclass
class _Task:
    operation: str
    status: str = "Running"
    message: str = ""


Handler = Callable[[JSONLike], Awaitable[JSONValue]]


class AgentMethods:
    def __init__(
        self,
        agent: Agent,
        hub_hostname: str,
        device_id: str,
        status: Callable[[], object],
        on_call: Callable[[str], None] | None = None,
    ) -> None:
        self.agent = agent
        self.hub_hostname = hub_hostname
        self.device_id = device_id
        self._status = status
        self._on_call = on_call
        self._tasks: dict[str, _Task] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._handlers: dict[str, Handler] = {
            "ping": self._ping,
            "restartmodule": self._restart,
            "getmodulelogs": self._get_logs,
            "uploadmodulelogs": self._upload_logs,
            "uploadsupportbundle": self._upload_bundle,
            "gettaskstatus": self._task_status,
        }
        self._names = [
            "ping",
            "RestartModule",
            "GetModuleLogs",
            "UploadModuleLogs",
            "UploadSupportBundle",
            "GetTaskStatus",
        ]

    async def handle(self, method_name: str, payload: JSONLike) -> tuple[int, JSONValue]:
        handler = self._handlers.get(method_name.lower())
        if self._on_call is not None:
            self._on_call(method_name)
        if handler is None:
            return 400, {
                "message": f"Command '{method_name}' not found. The supported commands are - {','.join(self._names)}"
            }
        try:
            return 200, await handler(payload)
        except (BadRequestError, LogFilterError) as exc:
            return 400, {"message": str(exc)}
        except NotFoundError as exc:
            return 500, {"message": str(exc)}

    # ---- the methods -----------------------------------------------------------------------
    async def _ping(self, payload: JSONLike) -> JSONValue:
        return None

    async def _restart(self, payload: JSONLike) -> JSONValue:
        request = _request(payload)
        name = request.get("id")
        if not isinstance(name, str) or not name:
            raise BadRequestError("id is required: the name of the module to restart")
        if name not in self.agent.runs:
            raise NotFoundError(f"Module {name} not found in the current environment")
        before = self.agent.states()[name].starts
        try:
            await self.agent.restart(name)
        except ModuleLaunchError as exc:
            raise NotFoundError(str(exc)) from None
        # Answer once the module runs again, as edgeAgent's restart command returns after the start.
        try:
            await self.agent.wait_for(
                lambda s: s[name].starts > before or s[name].runtime_status != RUNNING, RESTART_WAIT_SECS
            )
        except TimeoutError:
            raise NotFoundError(f"Module {name} did not start again within {RESTART_WAIT_SECS:g} s") from None
        return None

    def _log_items(self, request: Mapping[str, JSONLike]) -> list[tuple[str, LogFilter]]:
        items = request.get("items")
        if isinstance(items, Mapping):
            items = [items]  # edgeAgent takes a single item or an array
        if not isinstance(items, list) or not items:
            raise BadRequestError('items is required: [{"id": REGEX, "filter": {...}}]')
        chosen: dict[str, LogFilter] = {}
        now = time.time()
        for index, item in enumerate(items):
            ident = item.get("id") if isinstance(item, Mapping) else None
            if not isinstance(item, Mapping) or not isinstance(ident, str) or not ident:
                raise BadRequestError(f"items[{index}].id must be a module name or a regular expression")
            log_filter = LogFilter.from_json(item.get("filter"), now)
            for name in matching_ids(ident, sorted(self.agent.runs)):
                chosen.setdefault(name, log_filter)  # the first item that names a module decides its filter
        return sorted(chosen.items())

    def _render(self, name: str, log_filter: LogFilter, content_type: str) -> bytes:
        path = self.agent.log_path(name)
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        lines = log_filter.apply(parse_lines(text))
        if content_type == "json":
            records = [
                {
                    "iothub": self.hub_hostname,
                    "device": self.device_id,
                    "id": name,
                    "stream": "stdout",
                    "loglevel": line.level,
                    "text": line.text,
                    **({"timestamp": _iso(line.time)} if line.time is not None else {}),
                }
                for line in lines
            ]
            return json.dumps(records).encode("utf-8")
        return "".join(f"{line.raw}\n" for line in lines).encode("utf-8")

    async def _get_logs(self, payload: JSONLike) -> JSONValue:
        request = _request(payload)
        encoding, content_type = _formats(request, default_type="text")
        response: list[JSONValue] = []
        size = 0
        for name, log_filter in self._log_items(request):
            data = self._render(name, log_filter, content_type)
            if encoding == "gzip":
                packed = gzip.compress(data)
                size += len(packed)
                response.append({"id": name, "payloadBytes": base64.b64encode(packed).decode("ascii")})
            else:
                text = data.decode("utf-8")
                size += len(text)
                response.append({"id": name, "payload": text})
        if size > MAX_LOGS_PAYLOAD:
            raise BadRequestError(
                f"The payload is too large for a direct method. GetModuleLogs supports up to "
                f"{MAX_LOGS_PAYLOAD} bytes of logs. The current request returned {size} bytes. "
                "Try reducing the size of the logs with the tail, since and until filters."
            )
        return response

    # ---- uploads and their tasks -------------------------------------------------------------
    def _start(self, operation: str, work: Callable[[], None]) -> JSONObject:
        correlation_id = str(uuid.uuid4())
        task = self._tasks[correlation_id] = _Task(operation)

        async def run() -> None:
            try:
                await asyncio.to_thread(work)
            except Exception as exc:  # any failure is the task's status, as in edgeAgent's BackgroundTask
                log.warning("edgeAgent task %s failed", operation, exc_info=True)
                task.status, task.message = "Failed", f"Task {operation} failed because of error {exc}"
            else:
                task.status = "Completed"

        spawn(run(), f"agent:{operation}", self._running)
        return {"status": task.status, "message": task.message, "correlationId": correlation_id}

    async def _upload_logs(self, payload: JSONLike) -> JSONValue:
        request = _request(payload)
        encoding, content_type = _formats(request, default_type="json")
        target = _sas_url(request)
        items = self._log_items(request)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())

        def work() -> None:
            folder = _local_target(target)
            for name, log_filter in items:
                data = self._render(name, log_filter, content_type)
                suffix = ".json" if content_type == "json" else ".log"
                if encoding == "gzip":
                    data, suffix = gzip.compress(data), suffix + ".gz"
                (folder / f"{self.device_id}-{name}-{stamp}{suffix}").write_bytes(data)

        return self._start("upload logs", work)

    async def _upload_bundle(self, payload: JSONLike) -> JSONValue:
        request = _request(payload)
        target = _sas_url(request)
        names = sorted(self.agent.runs)
        status = json.dumps(self._status(), indent=2, default=str)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())

        def work() -> None:
            folder = _local_target(target)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
                bundle.writestr("status.json", status)
                for name in names:
                    path = self.agent.log_path(name)
                    if path.exists():
                        bundle.write(path, f"logs/{name}.log")
            (folder / f"support_bundle-{self.device_id}-{stamp}.zip").write_bytes(buffer.getvalue())

        return self._start("upload support bundle", work)

    async def _task_status(self, payload: JSONLike) -> JSONValue:
        request = _request(payload)
        correlation_id = request.get("correlationId")
        if not isinstance(correlation_id, str) or not correlation_id:
            raise BadRequestError("correlationId is required")
        task = self._tasks.get(correlation_id)
        if task is None:
            return {"status": "Unknown", "message": "", "correlationId": correlation_id}
        return {"status": task.status, "message": task.message, "correlationId": correlation_id}

    async def stop(self) -> None:
        for task in list(self._running):
            task.cancel()


def _request(payload: JSONLike) -> Mapping[str, JSONLike]:
    if not isinstance(payload, Mapping):
        raise BadRequestError("Request payload not found: expected a JSON object")
    version = payload.get("schemaVersion")
    if version is not None and not isinstance(version, str):
        raise BadRequestError('schemaVersion must be a string such as "1.0"')
    return payload


def _formats(request: Mapping[str, JSONLike], default_type: str) -> tuple[str, str]:
    encoding = str(request.get("encoding", "none")).lower()
    content_type = str(request.get("contentType", default_type)).lower()
    if encoding not in ("none", "gzip"):
        raise BadRequestError("encoding must be none or gzip")
    if content_type not in ("text", "json"):
        raise BadRequestError("contentType must be text or json")
    return encoding, content_type


def _sas_url(request: Mapping[str, JSONLike]) -> str:
    url = request.get("sasUrl")
    if not isinstance(url, str) or not url:
        raise BadRequestError("sasUrl is required")
    return url


def _local_target(url: str) -> Path:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        raise SimulatorError(f"the simulator has no network: it uploads only to file:// directories, not {url!r}")
    folder = Path(unquote(parsed.path))
    if not folder.is_dir():
        raise SimulatorError(f"{folder} is not a directory")
    return folder


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
