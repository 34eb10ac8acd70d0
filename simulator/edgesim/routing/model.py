"""What a parsed route is: a source, an optional condition, a sink, a priority and a TTL.

Sources match as edgeHub's BaseMessageSource does: the route's path (``*`` and a trailing ``/``
trimmed) and the message's source path each get one trailing ``/``, and the message matches when its
path starts with the route's, ignoring case. A message's path is ``/messages`` for a device's
telemetry (a leaf device: ``connectionDeviceId`` and no ``connectionModuleId``),
``/messages/modules/<m>[/outputs/<o>]`` for a module's, ``/twinChangeNotifications`` for twin changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from edgesim.message import Message

if TYPE_CHECKING:
    from edgesim.routing.conditions import Condition

# all: every message ("/"); telemetry: every device and module message ("/messages");
# modules: every module's messages; module: one module's (or one output's); twin_change; other: a path
# edgeHub accepts that no message has (such a route never delivers).
SourceKind = Literal["all", "telemetry", "modules", "module", "twin_change", "other"]
TWIN_CHANGE_PATH = "/twinChangeNotifications"


@dataclass(frozen=True)
class UpstreamSink:
    def __str__(self) -> str:
        return "$upstream"


@dataclass(frozen=True)
class ModuleInputSink:
    module: str
    input: str

    def __str__(self) -> str:
        return f'BrokeredEndpoint("/modules/{self.module}/inputs/{self.input}")'


Sink = UpstreamSink | ModuleInputSink


def _with_slash(path: str) -> str:
    return path.strip().rstrip("/") + "/"


@dataclass(frozen=True)
class RouteSource:
    """``prefix``: the lower-cased source path as edgeHub keeps it (``*`` trimmed, one trailing ``/``)."""

    text: str
    prefix: str
    kind: SourceKind
    module: str | None = None  # the module the source names, if any (original case)
    output: str | None = None  # the output it names, if any

    def matches(self, message: Message) -> bool:
        return _with_slash(message_path(message)).lower().startswith(self.prefix)


def message_path(message: Message) -> str:
    """The message's source path, as edgeHub's message sources name it."""
    system = message.system_properties
    if system.get("messageSource") == "twinChangeEvents":
        return TWIN_CHANGE_PATH
    module = system.get("connectionModuleId")
    if not module:
        return "/messages"  # telemetry from a device (TelemetryMessageSource)
    output = system.get("outputName")
    if output:
        return f"/messages/modules/{module}/outputs/{output}"
    return f"/messages/modules/{module}"


def parse_source(text: str) -> RouteSource:
    """CustomMessageSource.Create: trim, drop trailing ``*``, then trailing ``/`` unless it is just ``/``."""
    trimmed = text.strip().rstrip("*")
    if len(trimmed) > 1:
        trimmed = trimmed.rstrip("/")
    prefix = _with_slash(trimmed).lower()
    parts = trimmed.split("/")[1:]
    lowered = [p.lower() for p in parts]
    if prefix == "/":
        return RouteSource(text, prefix, "all")
    if prefix == "/messages/":
        return RouteSource(text, prefix, "telemetry")
    if prefix == "/messages/modules/":
        return RouteSource(text, prefix, "modules")
    if prefix == TWIN_CHANGE_PATH.lower() + "/":
        return RouteSource(text, prefix, "twin_change")
    if len(parts) >= 3 and lowered[:2] == ["messages", "modules"] and parts[2]:
        if len(parts) == 3 or (len(parts) == 4 and lowered[3] == "outputs"):
            return RouteSource(text, prefix, "module", parts[2])
        if len(parts) == 5 and lowered[3] == "outputs" and parts[4]:
            return RouteSource(text, prefix, "module", parts[2], parts[4])
    return RouteSource(text, prefix, "other")


@dataclass(frozen=True)
class Route:
    name: str
    text: str
    source: RouteSource
    condition: Condition | None
    sink: Sink
    priority: int = 0
    ttl_secs: int | None = None
    condition_text: str = "true"  # as edgeHub keeps it: the WHERE text, or "true" without one
    trailing: int | None = None  # offset of text after the sink, which edgeHub ignores

    def matches(self, message: Message) -> bool:
        if not self.source.matches(message):
            return False
        return self.condition is None or self.condition.matches(message)
