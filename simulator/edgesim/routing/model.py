"""What a parsed route is: a source, an optional condition, a sink, a priority and a TTL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from edgesim.message import Message

if TYPE_CHECKING:
    from edgesim.routing.conditions import Expr

SourceKind = Literal["all", "module", "twin_change"]


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


@dataclass(frozen=True)
class RouteSource:
    """``prefix`` is the lower-cased source path without a trailing ``*`` or ``/``."""

    text: str
    prefix: str
    kind: SourceKind
    module: str | None = None  # the module the source names, if any (original case)
    output: str | None = None  # the output it names, if any

    def matches(self, message: Message) -> bool:
        if self.kind == "twin_change":
            return message.system_properties.get("messageSource") == "twinChangeEvents"
        path = message_path(message)
        if path is None:
            return False
        path = path.lower()
        return path == self.prefix or path.startswith(self.prefix + "/") or self.prefix == "/messages"


def message_path(message: Message) -> str | None:
    module = message.system_properties.get("connectionModuleId")
    if module is None:
        return "/messages/events"
    output = message.system_properties.get("outputName")
    if output:
        return f"/messages/modules/{module}/outputs/{output}"
    return f"/messages/modules/{module}"


def parse_source(text: str) -> RouteSource | None:
    trimmed = text.rstrip("*").rstrip("/")
    lowered = trimmed.lower()
    parts = trimmed.split("/")
    if lowered == "/twinchangenotifications":
        return RouteSource(text, lowered, "twin_change")
    if lowered == "/messages":
        return RouteSource(text, lowered, "all")
    # /messages/modules/{m}[/outputs[/{o}]]
    if len(parts) >= 4 and parts[0] == "" and parts[1].lower() == "messages" and parts[2].lower() == "modules" \
            and parts[3]:
        if len(parts) == 4:
            return RouteSource(text, lowered, "module", parts[3])
        if parts[4].lower() == "outputs" and len(parts) == 5:
            return RouteSource(text, lowered, "module", parts[3])
        if parts[4].lower() == "outputs" and len(parts) == 6 and parts[5]:
            return RouteSource(text, lowered, "module", parts[3], parts[5])
    return None


@dataclass(frozen=True)
class Route:
    name: str
    text: str
    source: RouteSource
    condition: Expr | None
    sink: Sink
    priority: int = 0
    ttl_secs: int | None = None

    def matches(self, message: Message) -> bool:
        if not self.source.matches(message):
            return False
        return self.condition is None or self.condition.matches(message)
