"""IoT Hub deployment documents (at scale, optionally layered) and the ``az`` commands that apply them."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgeship.errors import ManifestError
from edgeship.manifest.deployments import DESIRED
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
            raise ManifestError(
                f"deployment id {self.deployment_id!r}: up to 128 lower-case letters, digits and "
                "- : + % _ # * ? ! ( ) , = @ ; '"
            )
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


def _object(value: object, where: str) -> dict[str, object]:
    """A generated manifest's object at ``where``; anything else is a manifest this module cannot publish."""
    if not isinstance(value, dict):
        raise ManifestError(f"{where} must be an object")
    return value


def _layered_content(modules_content: Mapping[str, object]) -> dict[str, object]:
    """A layer adds to a base deployment: ``properties.desired.<path>`` keys instead of whole twins."""
    agent = _object(_object(modules_content["$edgeAgent"], "$edgeAgent")[DESIRED], "$edgeAgent." + DESIRED)
    hub = _object(_object(modules_content["$edgeHub"], "$edgeHub")[DESIRED], "$edgeHub." + DESIRED)
    agent_layer: dict[str, object] = {
        f"properties.desired.modules.{name}": module
        for name, module in _object(agent.get("modules", {}), "modules").items()
    }
    runtime = _object(_object(agent.get("runtime", {}), "runtime").get("settings", {}), "runtime.settings")
    credentials = _object(runtime.get("registryCredentials", {}), "registryCredentials")
    for name, credential in credentials.items():
        agent_layer[f"properties.desired.runtime.settings.registryCredentials.{name}"] = credential
    hub_layer: dict[str, object] = {
        f"properties.desired.routes.{name}": route for name, route in _object(hub.get("routes", {}), "routes").items()
    }
    content: dict[str, object] = {"$edgeAgent": agent_layer, "$edgeHub": hub_layer}
    for twin, body in modules_content.items():
        if twin in ("$edgeAgent", "$edgeHub"):
            continue
        desired = _object(_object(body, twin)[DESIRED], f"{twin}.{DESIRED}")
        content[twin] = {f"properties.desired.{key}": value for key, value in desired.items()}
    return content


def deployment_document(manifest: Mapping[str, object], options: AtScale) -> dict[str, object]:
    modules_content = _object(manifest["modulesContent"], "modulesContent")
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
    words = [
        "az",
        "iot",
        "edge",
        "deployment",
        "create",
        "--deployment-id",
        options.deployment_id,
        "--hub-name",
        hub_name,
        "--content",
        str(path),
        "--target-condition",
        options.target_condition,
        "--priority",
        str(options.priority),
    ]
    if options.layered:
        words.append("--layered")
    if options.labels:
        words += ["--labels", json.dumps(dict(options.labels), separators=(",", ":"))]
    return shlex.join(words)


def set_modules_command(path: Path, device_id: str, hub_name: str) -> str:
    return shlex.join(
        ["az", "iot", "edge", "set-modules", "--device-id", device_id, "--hub-name", hub_name, "--content", str(path)]
    )
