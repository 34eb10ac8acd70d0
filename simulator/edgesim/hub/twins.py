"""Module twins: desired and reported properties with versions, merged as IoT Hub merges them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TypedDict, TypeVar

from edgesim.jsondepth import MAX_DEPTH, TwinPatchError, check_depth
from edgesim.jsontypes import JSONLike, JSONObject, JSONValue

V = TypeVar("V")

__all__ = [
    "MAX_DEPTH",
    "Twin",
    "TwinDocument",
    "TwinPatchError",
    "check_depth",
    "merge_patch",
    "to_json",
    "version_of",
    "without_metadata",
]


class TwinDocument(TypedDict):
    """A twin as twin GET answers it; each side has its ``$version``."""

    desired: JSONObject
    reported: JSONObject


def version_of(properties: Mapping[str, JSONValue], default: int = 1) -> int:
    """The ``$version`` of desired or reported properties."""
    value = properties.get("$version", default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"$version is not a number: {value!r}")
    return int(value)


def to_json(value: JSONLike) -> JSONValue:
    """A deep copy of ``value`` made of dicts and lists (what ``json.loads`` would give back)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    return [to_json(item) for item in value]


def merge_patch(target: JSONObject, patch: Mapping[str, JSONLike]) -> None:
    """JSON merge: objects merge recursively, ``null`` deletes, anything else replaces."""
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        current = target.get(key)
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping):
            # RFC 7396: an object patches an empty object where the target has none, so the nulls
            # inside a brand-new object delete nothing and are not stored (a twin holds no nulls).
            if not isinstance(current, dict):
                current = {}
                target[key] = current
            merge_patch(current, value)
        else:
            target[key] = to_json(value)


def without_metadata(properties: Mapping[str, V]) -> dict[str, V]:
    return {k: v for k, v in properties.items() if not k.startswith("$")}


class Twin:
    def __init__(self, desired: JSONObject | None = None, reported: JSONObject | None = None) -> None:
        self.desired: JSONObject = desired if desired is not None else {"$version": 1}
        self.reported: JSONObject = reported if reported is not None else {"$version": 1}
        self.desired.setdefault("$version", 1)
        self.reported.setdefault("$version", 1)

    @property
    def desired_version(self) -> int:
        return version_of(self.desired)

    def document(self) -> TwinDocument:
        return {"desired": copy.deepcopy(self.desired), "reported": copy.deepcopy(self.reported)}

    def patch_desired(self, patch: Mapping[str, JSONLike]) -> int:
        check_depth(patch)
        merge_patch(self.desired, patch)
        self.desired["$version"] = version_of(self.desired) + 1
        return version_of(self.desired)

    def replace_desired(self, desired: Mapping[str, JSONLike]) -> None:
        version = version_of(self.desired, 0) + 1
        self.desired = {**{key: to_json(value) for key, value in desired.items()}, "$version": version}

    def patch_reported(self, patch: Mapping[str, JSONLike]) -> int:
        check_depth(patch)
        merge_patch(self.reported, patch)
        self.reported["$version"] = version_of(self.reported) + 1
        return version_of(self.reported)
