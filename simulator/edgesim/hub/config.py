"""What the hub is started with (``HubConfig``) and the identities it always has."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgesim.jsontypes import JSONLike, JSONObject, JSONValue

SYSTEM_IDENTITIES = ("$edgeAgent", "$edgeHub")

# edgeAgent's built-in methods: (method name, payload) -> (status, payload). Set by the runtime.
SystemMethodHandler = Callable[[str, JSONLike], Awaitable[tuple[int, JSONValue]]]


@dataclass(frozen=True)
class HubConfig:
    host: str
    hub_hostname: str
    device_id: str
    identities: Mapping[str, str]  # module name -> key
    certfile: Path
    keyfile: Path
    state_dir: Path
    routes: Mapping[str, str | Mapping[str, JSONValue]] = field(default_factory=dict)
    store_ttl_secs: int = 7200
    initial_desired: Mapping[str, JSONObject] = field(default_factory=dict)
    port: int = 8883
    devices: Mapping[str, str] = field(default_factory=dict)  # leaf device id -> key
    gateway_port: int | None = None  # HTTPS + MQTT over WebSockets (443 on a device); None: not served
    store_max_bytes: int | None = None  # storeAndForwardConfiguration.storeLimits.maxSizeBytes
