"""What a new deployment changes, as edgeAgent decides it: a pure diff of two ``Deployment`` values.

Read from Azure/iotedge edgeAgent (``ModuleSet.Diff`` and ``DockerModule.Equals``), not copied:
a module in the new set only is created, one in the old set only is removed, and one in both is
updated (stopped, recreated, started) when it is not *equal*, where equality compares the name,
``version``, ``type``, desired ``status``, the config (``settings.image`` and ``createOptions``),
``restartPolicy``, ``imagePullPolicy``, ``startupOrder`` and ``env``. Anything else, notably the
module's desired properties, leaves the module running: they reach it as a twin patch.

Departure: edgeAgent starts or stops a module whose only change is its desired ``status`` without
recreating it (``OnlyModuleStatusChanged``). For a process there is nothing to recreate, so the
simulator does the same thing either way: stop the old process, then start the new spec (or not,
when its status is ``stopped``); the reason says ``status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

from edgesim.deployment import Deployment, ModuleSpec
from edgesim.jsontypes import JSONObject, JSONValue

# ModuleSpec field -> the manifest's name for it, in the order they are reported.
COMPARED_FIELDS = (
    ("image", "settings.image"),
    ("create_options", "settings.createOptions"),
    ("env", "env"),
    ("version", "version"),
    ("restart_policy", "restartPolicy"),
    ("status", "status"),
    ("startup_order", "startupOrder"),
    ("image_pull_policy", "imagePullPolicy"),
)


def _properties(desired: Mapping[str, JSONValue]) -> JSONObject:
    return {key: value for key, value in desired.items() if not key.startswith("$")}


@dataclass(frozen=True)
class ModuleChange:
    """A module in both deployments that must restart, with the manifest fields that differ."""

    name: str
    reasons: tuple[str, ...]


class PlanJSON(TypedDict):
    """``sim deploy --json`` and ``POST /v1/deploy``."""

    added: list[str]
    removed: list[str]
    restarted: dict[str, list[str]]
    unchanged: list[str]
    patched: list[str]
    routes_changed: bool
    store_ttl_changed: bool
    store_limits_changed: bool


@dataclass(frozen=True)
class Plan:
    """How the running deployment becomes the new one."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[ModuleChange, ...] = ()  # restarted
    unchanged: tuple[str, ...] = ()  # keep running, untouched (they may still be patched)
    patched: tuple[str, ...] = ()  # kept modules the new manifest gives other desired properties
    routes_changed: bool = False
    store_ttl_changed: bool = False
    store_limits_changed: bool = False  # storeLimits.maxSizeBytes: applied live, as the TTL

    @property
    def restarted(self) -> tuple[str, ...]:
        return tuple(change.name for change in self.changed)

    @property
    def is_empty(self) -> bool:
        return not (
            self.added
            or self.removed
            or self.changed
            or self.patched
            or self.routes_changed
            or self.store_ttl_changed
            or self.store_limits_changed
        )

    def to_json(self) -> PlanJSON:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "restarted": {change.name: list(change.reasons) for change in self.changed},
            "unchanged": list(self.unchanged),
            "patched": list(self.patched),
            "routes_changed": self.routes_changed,
            "store_ttl_changed": self.store_ttl_changed,
            "store_limits_changed": self.store_limits_changed,
        }


def module_differences(old: ModuleSpec, new: ModuleSpec) -> tuple[str, ...]:
    """The manifest fields that make ``new`` a different module from ``old`` (empty: equal)."""
    return tuple(label for attribute, label in COMPARED_FIELDS if getattr(old, attribute) != getattr(new, attribute))


def plan(old: Deployment, new: Deployment) -> Plan:
    """The changes that turn the running ``old`` deployment into ``new``; sorted by module name."""
    old_names, new_names = set(old.module_names), set(new.module_names)
    changed: list[ModuleChange] = []
    unchanged: list[str] = []
    patched: list[str] = []
    for name in sorted(old_names & new_names):
        reasons = module_differences(old.module(name), new.module(name))
        if reasons:
            changed.append(ModuleChange(name, reasons))
        else:
            unchanged.append(name)
        # A module the new manifest gives no desired properties keeps its twin, as IoT Hub leaves it.
        if name in new.desired and _properties(old.desired.get(name, {})) != _properties(new.desired[name]):
            patched.append(name)
    return Plan(
        added=tuple(sorted(new_names - old_names)),
        removed=tuple(sorted(old_names - new_names)),
        changed=tuple(changed),
        unchanged=tuple(unchanged),
        patched=tuple(patched),
        routes_changed=dict(old.routes) != dict(new.routes),
        store_ttl_changed=old.store_ttl_secs != new.store_ttl_secs,
        store_limits_changed=old.store_max_bytes != new.store_max_bytes,
    )


def desired_patch(current: Mapping[str, JSONValue], wanted: Mapping[str, JSONValue]) -> JSONObject:
    """The JSON merge patch (``null`` deletes) that turns the desired properties ``current`` into ``wanted``.

    A deployment replaces a module's desired properties; a module learns of it through one patch,
    so the patch holds only what differs. ``$``-keys (``$version``, ``$metadata``) are the twin's own.
    """
    patch: JSONObject = {}
    for key in current:
        if not key.startswith("$") and key not in wanted:
            patch[key] = None
    for key, value in wanted.items():
        if key.startswith("$"):
            continue
        before = current.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            inner = desired_patch(before, value)
            if inner:
                patch[key] = inner
        elif key not in current or before != value:
            patch[key] = value
    return patch
