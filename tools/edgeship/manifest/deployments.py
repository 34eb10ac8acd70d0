"""At-scale deployment documents read back: checked, classified base or layered, conditions compiled.

The shape is what ``atscale.deployment_document`` writes and ``az iot edge deployment create``
takes: ``{"id", "targetCondition", "priority", "content": {"modulesContent": ...}, "labels"?,
"metrics"?}``. A deployment is layered when a twin in it has a ``properties.desired.<path>`` key
(the classification the az CLI documents for ``--layered``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from edgeship.errors import ManifestError
from edgeship.jsontypes import JSONValue
from edgeship.manifest.targeting import Condition, ConditionError, compile_condition

DESIRED = "properties.desired"
_DESIRED_DOT = DESIRED + "."
_SYSTEM_TWINS = ("$edgeAgent", "$edgeHub")
# Keys IoT Hub puts in a configuration it returns (az iot edge deployment show) beside ours.
_TOP_KEYS = frozenset(
    {
        "id",
        "schemaVersion",
        "labels",
        "content",
        "targetCondition",
        "createdTimeUtc",
        "lastUpdatedTimeUtc",
        "priority",
        "systemMetrics",
        "metrics",
        "etag",
    }
)
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Deployment:
    """One at-scale deployment; ``order`` is its place among the inputs (a tie-break of last resort)."""

    id: str
    source: str
    condition: Condition
    priority: int
    layered: bool
    modules_content: Mapping[str, Mapping[str, object]]
    created: datetime | None
    order: int

    @property
    def label(self) -> str:
        return f"{self.id} ({self.source}, {'layered' if self.layered else 'base'}, priority {self.priority})"

    def rank(self) -> tuple[int, datetime, int]:
        """Higher ranks win: priority, then the later createdTimeUtc, then the later input."""
        return self.priority, self.created or _NEVER, self.order


def _fail(source: str, message: str) -> ManifestError:
    return ManifestError(f"{source}: {message}")


def desired_path(key: str) -> tuple[str, ...] | None:
    """``properties.desired.a.b`` -> ("a", "b"); ``properties.desired`` -> (); other keys -> None."""
    if key == DESIRED:
        return ()
    if key.startswith(_DESIRED_DOT):
        return tuple(key[len(_DESIRED_DOT) :].split("."))
    return None


def _is_layered(content: Mapping[str, object]) -> bool:
    return any(
        isinstance(twin, Mapping) and any(str(k).startswith(_DESIRED_DOT) for k in twin) for twin in content.values()
    )


def _check_twins(source: str, content: Mapping[str, object], layered: bool) -> None:
    for twin, body in content.items():
        where = f"modulesContent.{twin}"
        if not isinstance(body, Mapping):
            raise _fail(source, f"{where} must be an object")
        if not layered and DESIRED not in body:
            raise _fail(source, f"{where} has no '{DESIRED}'")
        for key, value in body.items():
            path = desired_path(key)
            if path is None:
                raise _fail(
                    source,
                    f"{where}: unknown key {key!r} (a twin holds '{DESIRED}'"
                    f"{' or properties.desired.<path>' if layered else ''})",
                )
            if any(not part for part in path):
                raise _fail(source, f"{where}: {key!r} has an empty name in its path")
            if path == () and not isinstance(value, Mapping):
                raise _fail(source, f"{where}['{DESIRED}'] must be an object")
            if layered and twin in _SYSTEM_TWINS and path == ():
                raise _fail(
                    source,
                    f"{where}: a layered deployment sets {twin} only through "
                    f"properties.desired.<path> keys, not a whole '{DESIRED}'",
                )
            if layered and twin == "$edgeAgent" and path[:1] == ("systemModules",):
                raise _fail(
                    source,
                    f"{where}: {key!r}: layered deployments do not configure the system "
                    "modules (edgeAgent, edgeHub); the base deployment does",
                )
    if layered and "$edgeAgent" not in content:
        raise _fail(
            source,
            "a layered deployment needs an $edgeAgent object, even an empty one "
            '("$edgeAgent": {}), or IoT Hub does not take it as valid',
        )
    if not layered:
        for twin in _SYSTEM_TWINS:
            if twin not in content:
                raise _fail(source, f"a base deployment needs modulesContent.{twin} with '{DESIRED}'")


def _created(source: str, value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            created = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            created = None
        if created is not None:
            return created if created.tzinfo else created.replace(tzinfo=UTC)
    raise _fail(source, f"createdTimeUtc {value!r} is not an ISO 8601 time")


def parse_deployment(document: object, source: str, order: int = 0) -> Deployment:
    """Check one deployment document; every problem is a ManifestError naming ``source``."""
    if not isinstance(document, Mapping):
        raise _fail(
            source,
            "an at-scale deployment is a JSON object with id, targetCondition, priority and content.modulesContent",
        )
    if "modulesContent" in document and "content" not in document:
        raise _fail(
            source,
            "a plain manifest, not an at-scale deployment: it has no targetCondition or "
            "priority (write one with `edgeship manifest generate --at-scale`)",
        )
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise _fail(source, f"unknown key {unknown[0]!r} (an at-scale deployment has: {', '.join(sorted(_TOP_KEYS))})")
    for key in ("id", "targetCondition", "priority", "content"):
        if key not in document:
            raise _fail(source, f"missing {key!r}")
    deployment_id, condition_text, priority = document["id"], document["targetCondition"], document["priority"]
    if not isinstance(deployment_id, str) or not deployment_id:
        raise _fail(source, "id must be a non-empty string")
    if not isinstance(condition_text, str):
        raise _fail(source, "targetCondition must be a string")
    if isinstance(priority, bool) or not isinstance(priority, int) or priority < 0:
        raise _fail(source, f"priority must be an integer of 0 or more, got {json.dumps(priority)}")
    content = document["content"]
    if not isinstance(content, Mapping):
        raise _fail(source, "content must be an object")
    if "modulesContent" not in content:
        other = next(iter(content), None)
        why = (
            f" ({other} is an automatic device configuration, not an IoT Edge deployment)"
            if other in ("deviceContent", "moduleContent")
            else ""
        )
        raise _fail(source, f"content has no modulesContent{why}")
    extra = sorted(set(content) - {"modulesContent"})
    if extra:
        raise _fail(source, f"content: unknown key {extra[0]!r} (an IoT Edge deployment has only modulesContent)")
    modules_content = content["modulesContent"]
    if not isinstance(modules_content, Mapping):
        raise _fail(source, "content.modulesContent must be an object")
    layered = _is_layered(modules_content)
    _check_twins(source, modules_content, layered)
    try:
        condition = compile_condition(condition_text)
    except ConditionError as exc:
        raise _fail(source, f"targetCondition {condition_text!r} does not parse: {exc}") from None
    return Deployment(
        deployment_id,
        source,
        condition,
        priority,
        layered,
        modules_content,
        _created(source, document.get("createdTimeUtc")),
        order,
    )


def read_json_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


def read_json(path: Path) -> JSONValue:
    text = read_json_text(path)
    try:
        value: JSONValue = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise ManifestError(f"{path}: JSON nested too deeply to read") from None
    return value


def load_deployments(paths: Sequence[Path]) -> list[Deployment]:
    """Every file, checked; two deployments with one id are refused (IoT Hub ids are unique)."""
    deployments: list[Deployment] = []
    seen: dict[str, str] = {}
    for order, path in enumerate(paths):
        deployment = parse_deployment(read_json(path), str(path), order)
        if deployment.id in seen:
            raise _fail(str(path), f"deployment id {deployment.id!r} is also the id of {seen[deployment.id]}")
        seen[deployment.id] = str(path)
        deployments.append(deployment)
    return deployments
