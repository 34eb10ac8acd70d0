"""A fleet plan: for each device which deployments target it and which IoT Hub applies, with counts.

"Targeted" and "applied" are the portal's system metrics (module-deployment-monitoring): targeted
devices meet the condition; applied ones get the deployment (the base that wins, its layers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgeship.errors import ManifestError
from edgeship.manifest.compose import select
from edgeship.manifest.deployments import Deployment, read_json
from edgeship.manifest.targeting import TWIN_KEYS, as_twin


@dataclass(frozen=True)
class DevicePlan:
    device_id: str
    targeted: tuple[str, ...]
    applied: tuple[str, ...]  # the base first, then layers in the order they are applied


@dataclass(frozen=True)
class Counts:
    targeted: int
    applied: int


@dataclass(frozen=True)
class FleetPlan:
    devices: tuple[DevicePlan, ...]
    counts: dict[str, Counts]


def load_devices(path: Path) -> list[dict[str, object]]:
    """A list of twins (``[{"deviceId", "tags", "properties"?}]``) or ``{deviceId: twin or tags}``."""
    document = read_json(path)
    twins: list[dict[str, object]] = []
    if isinstance(document, list):
        for index, entry in enumerate(document):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("deviceId"), str):
                raise ManifestError(f"{path}: device [{index}] is not an object with a string deviceId")
            unknown = sorted(set(entry) - TWIN_KEYS)
            if unknown:
                raise ManifestError(
                    f"{path}: device {entry['deviceId']!r}: unknown key {unknown[0]!r} (a device "
                    'is {"deviceId", "tags", "properties": {"reported": ...}})'
                )
            if not isinstance(entry.get("tags", {}), Mapping):
                raise ManifestError(f"{path}: device {entry['deviceId']!r}: tags must be an object")
            twins.append(dict(entry))
    elif isinstance(document, Mapping):
        for device_id, entry in document.items():
            if not isinstance(entry, Mapping):
                raise ManifestError(f"{path}: device {device_id!r} must be an object (its twin or its tags)")
            twins.append(as_twin(entry, device_id))
    else:
        raise ManifestError(f"{path}: expected a list of device twins or an object keyed by device id")
    seen: set[object] = set()
    for twin in twins:
        twin_id = twin["deviceId"]
        if twin_id in seen:
            raise ManifestError(f"{path}: device id {twin_id!r} appears twice")
        seen.add(twin_id)
    return twins


def plan(deployments: Sequence[Deployment], twins: Sequence[Mapping[str, object]]) -> FleetPlan:
    targeted = dict.fromkeys((d.id for d in deployments), 0)
    applied = dict.fromkeys((d.id for d in deployments), 0)
    devices: list[DevicePlan] = []
    for twin in twins:
        selection = select(deployments, twin)
        chosen = ((selection.base,) if selection.base else ()) + selection.layers
        for deployment in selection.targeted:
            targeted[deployment.id] += 1
        for deployment in chosen:
            applied[deployment.id] += 1
        devices.append(
            DevicePlan(
                str(twin.get("deviceId", "")), tuple(d.id for d in selection.targeted), tuple(d.id for d in chosen)
            )
        )
    return FleetPlan(tuple(devices), {d.id: Counts(targeted[d.id], applied[d.id]) for d in deployments})
