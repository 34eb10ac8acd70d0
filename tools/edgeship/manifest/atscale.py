"""IoT Hub deployment documents (at scale, optionally layered) and the ``az`` commands that apply them."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeship.errors import ManifestError
from edgeship.manifest.targeting import ConditionError, compile_condition

_DEPLOYMENT_ID = re.compile(r"^[a-z0-9\-:+%_#*?!(),=@;']{1,128}$")


@dataclass(frozen=True)
class AtScale:
    target_condition: str
    priority: int
    deployment_id: str
    layered: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _DEPLOYMENT_ID.match(self.deployment_id):
            raise ManifestError(f"deployment id {self.deployment_id!r}: up to 128 lower-case letters, digits and "
                                "- : + % _ # * ? ! ( ) , = @ ; '")
        if self.priority < 0:
            raise ManifestError(f"priority {self.priority} must be 0 or more (higher wins)")
        condition = self.target_condition.strip()
        if not condition:
            raise ManifestError("a target condition is required, e.g. \"tags.environment='prod'\"")
        # The language `edgeship manifest compose` and `plan` evaluate: a document written here composes.
        try:
            compile_condition(condition)
        except ConditionError as exc:
            raise ManifestError(f"target condition {condition!r}: {exc}") from None


def _layered_content(modules_content: Mapping[str, Any]) -> dict[str, Any]:
    """A layer adds to a base deployment: ``properties.desired.<path>`` keys instead of whole twins."""
    agent = modules_content["$edgeAgent"]["properties.desired"]
    hub = modules_content["$edgeHub"]["properties.desired"]
    agent_layer: dict[str, Any] = {f"properties.desired.modules.{name}": module
                                   for name, module in agent.get("modules", {}).items()}
    credentials = agent.get("runtime", {}).get("settings", {}).get("registryCredentials", {})
    for name, credential in credentials.items():
        agent_layer[f"properties.desired.runtime.settings.registryCredentials.{name}"] = credential
    hub_layer: dict[str, Any] = {f"properties.desired.routes.{name}": route
                                 for name, route in hub.get("routes", {}).items()}
    content: dict[str, Any] = {"$edgeAgent": agent_layer, "$edgeHub": hub_layer}
    for twin, body in modules_content.items():
        if twin in ("$edgeAgent", "$edgeHub"):
            continue
        content[twin] = {f"properties.desired.{key}": value for key, value in body["properties.desired"].items()}
    return content


def deployment_document(manifest: Mapping[str, Any], options: AtScale) -> dict[str, Any]:
    modules_content = manifest["modulesContent"]
    content = _layered_content(modules_content) if options.layered else dict(modules_content)
    return {
        "id": options.deployment_id,
        "content": {"modulesContent": content},
        "targetCondition": options.target_condition,
        "priority": options.priority,
        "labels": dict(options.labels),
        "metrics": {"queries": {}, "results": {}},
    }


def deployment_create_command(path: Path, options: AtScale, hub_name: str) -> str:
    words = ["az", "iot", "edge", "deployment", "create", "--deployment-id", options.deployment_id,
             "--hub-name", hub_name, "--content", str(path), "--target-condition", options.target_condition,
             "--priority", str(options.priority)]
    if options.layered:
        words.append("--layered")
    if options.labels:
        words += ["--labels", json.dumps(dict(options.labels), separators=(",", ":"))]
    return shlex.join(words)


def set_modules_command(path: Path, device_id: str, hub_name: str) -> str:
    return shlex.join(["az", "iot", "edge", "set-modules", "--device-id", device_id, "--hub-name", hub_name,
                       "--content", str(path)])
