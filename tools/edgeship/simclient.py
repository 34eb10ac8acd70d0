"""A small HTTP client for the simulator's control API (``edgesim.control``), used by ``edgeship sim``.

It finds a running simulator through ``<state>/sim.json`` (whose format ``edgesim.state_file`` owns)
and raises ``SimulatorClientError`` with one line for everything that goes wrong: no simulator, a
simulator that died, an error reply.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from edgeship._proc import pid_alive as _pid_alive
from edgeship.errors import SimulatorClientError
from edgesim import state_file
from edgesim.state_file import DEFAULT_STATE_DIR, STATE_FILE
from edgesim.state_file import SimulatorState as SimulatorInfo

__all__ = ["DEFAULT_STATE_DIR", "STATE_FILE", "SimClient", "SimulatorInfo", "decoded_body", "read_state"]


def read_state(state_dir: Path) -> SimulatorInfo:
    """The running simulator of ``state_dir``; ``SimulatorClientError`` when there is none."""
    path = state_dir / STATE_FILE
    hint = "start one with `edgeship sim start MANIFEST`"
    try:
        info = state_file.read_state(state_dir)
    except FileNotFoundError:
        raise SimulatorClientError(f"no simulator running with state directory {state_dir}; {hint}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SimulatorClientError(f"unreadable simulator state file {path}: {exc}") from None
    if not _pid_alive(info.pid):
        raise SimulatorClientError(
            f"no simulator running with state directory {state_dir} (process {info.pid} is gone); {hint}"
        )
    return info


class SimClient:
    """Calls the control API at ``base_url`` (``http://127.x.y.z:port``)."""

    def __init__(self, base_url: str, timeout: float = 30.0, pid: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.pid = pid

    @classmethod
    def from_state_dir(cls, state_dir: Path = DEFAULT_STATE_DIR, timeout: float = 30.0) -> SimClient:
        info = read_state(state_dir)
        return cls(info.control_url, timeout, info.pid)

    # ---- transport ------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, bytes]:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"} if data else {}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            raise SimulatorClientError(f"simulator refused {method} {path}: {_error_text(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SimulatorClientError(f"cannot reach the simulator at {self.base_url}: {reason}") from None

    def _json(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        _, payload = self._request(method, path, body, query, timeout)
        try:
            return json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SimulatorClientError(f"the simulator answered {method} {path} with something not JSON") from None

    @staticmethod
    def _segment(value: str) -> str:
        return urllib.parse.quote(value, safe="")

    # ---- operations -------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "/v1/status")
        return result

    def send(
        self,
        module: str,
        input_name: str,
        body: Any,
        properties: dict[str, str] | None = None,
        message_id: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        request: dict[str, Any] = {"body": body, "properties": properties or {}}
        if message_id is not None:
            request["messageId"] = message_id
        if correlation_id is not None:
            request["correlationId"] = correlation_id
        self._json("POST", f"/v1/modules/{self._segment(module)}/inputs/{self._segment(input_name)}", request)

    def upstream(self, since: int = 0, wait: float = 0.0) -> tuple[list[dict[str, Any]], int]:
        result = self._json("GET", "/v1/upstream", query={"since": since, "wait": wait}, timeout=wait + self.timeout)
        return list(result["records"]), int(result["last_seq"])

    def upstream_link(self, action: str | None = None) -> dict[str, Any]:
        """The link to the cloud; ``action`` "offline" or "online" changes it first."""
        if action is None:
            result: dict[str, Any] = self._json("GET", "/v1/upstream/link")
        else:
            result = self._json("POST", f"/v1/upstream/{self._segment(action)}")
        return result

    def _target(self, name: str) -> str:
        """The control API path of a module, ``$edgeAgent`` / ``$edgeHub``, or a leaf device, by name."""
        if not name.startswith("$") and name in self.status().get("devices", {}):
            return f"/v1/devices/{self._segment(name)}"
        return f"/v1/modules/{self._segment(name)}"

    def invoke(self, module: str, method: str, payload: Any, timeout: float = 30.0) -> dict[str, Any]:
        """A direct method on a module, a leaf device or ``$edgeAgent``: ``{"status", "payload"}``."""
        result: dict[str, Any] = self._json(
            "POST",
            f"{self._target(module)}/methods/{self._segment(method)}",
            {"payload": payload, "timeout": timeout},
            timeout=timeout + self.timeout,
        )
        return result

    def twin(self, module: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"{self._target(module)}/twin")
        return result

    def patch_twin(self, module: str, desired: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._json("PATCH", f"{self._target(module)}/twin", {"desired": desired})
        return result

    # ---- leaf devices -----------------------------------------------------------------------
    def add_device(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("POST", "/v1/devices", {"device_id": name})
        return result

    def devices(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/v1/devices")["devices"])

    def remove_device(self, name: str) -> None:
        self._json("DELETE", f"/v1/devices/{self._segment(name)}")

    def c2d(
        self,
        device: str,
        body: Any,
        properties: dict[str, str] | None = None,
        ttl: float | None = None,
        message_id: str | None = None,
    ) -> None:
        request: dict[str, Any] = {"body": body, "properties": properties or {}}
        if ttl is not None:
            request["ttl"] = ttl
        if message_id is not None:
            request["messageId"] = message_id
        self._json("POST", f"/v1/devices/{self._segment(device)}/messages", request)

    # ---- redeploying (issue #18) ----------------------------------------------------------------
    def deploy(self, manifest: Path) -> dict[str, Any]:
        """Redeploy in place: the simulator reads ``manifest`` (made absolute here) and says what it did."""
        result: dict[str, Any] = self._json(
            "POST", "/v1/deploy", {"manifest": str(manifest.resolve())}, timeout=max(self.timeout, 180.0)
        )
        return result

    def restart(self, module: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json(
            "POST", f"/v1/modules/{self._segment(module)}/restart", timeout=max(self.timeout, 90.0)
        )
        return result

    def logs(self, module: str, tail: int = 0) -> str:
        _, payload = self._request("GET", f"/v1/modules/{self._segment(module)}/logs", query={"tail": tail})
        return payload.decode("utf-8", errors="replace")

    def stop(self, wait_secs: float = 60.0) -> None:
        """Ask the simulator to stop and wait until its process has exited."""
        self._json("POST", "/v1/stop")
        if self.pid is None:
            return
        deadline = time.monotonic() + wait_secs
        while _pid_alive(self.pid):  # another process: nothing to wait on but its pid
            if time.monotonic() > deadline:
                raise SimulatorClientError(f"the simulator (pid {self.pid}) did not stop within {wait_secs:g} s")
            time.sleep(0.05)


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(exc.read().decode("utf-8")).get("message")
    except (ValueError, AttributeError, UnicodeDecodeError):
        message = None
    return f"{exc.code} {message or exc.reason}"


def decoded_body(record: dict[str, Any]) -> Any:
    """A record's body as JSON when it is JSON text, else the text (or base64 string) itself."""
    body = record.get("body")
    if record.get("body_encoding") == "base64" or not isinstance(body, str):
        return body
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return body
