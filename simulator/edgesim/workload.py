"""The workload API the module SDK calls for its trust bundle and SAS signatures (served by
``edgesim.httpserver``, as the control API is).

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

import base64
import binascii
import contextlib
import logging
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edgesim import sas
from edgesim.errors import SimulatorError
from edgesim.httpserver import HttpError, HttpRequest, HttpResponse, HttpServer

log = logging.getLogger(__name__)


class WorkloadError(SimulatorError):
    """The workload API cannot start (socket path unusable, ...)."""


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

    def _sign(self, module: str, generation_id: str, payload: object) -> str:
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
