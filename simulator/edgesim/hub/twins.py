"""Module twins: desired and reported properties with versions, merged as IoT Hub merges them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from edgesim.jsondepth import MAX_DEPTH, TwinPatchError, check_depth

__all__ = ["MAX_DEPTH", "Twin", "TwinPatchError", "check_depth", "merge_patch", "without_metadata"]


def merge_patch(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """JSON merge: objects merge recursively, ``null`` deletes, anything else replaces."""
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(dict(value)) if isinstance(value, Mapping) else copy.deepcopy(value)


def without_metadata(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in properties.items() if not k.startswith("$")}


class Twin:
    def __init__(self, desired: dict[str, Any] | None = None, reported: dict[str, Any] | None = None) -> None:
        self.desired: dict[str, Any] = desired if desired is not None else {"$version": 1}
        self.reported: dict[str, Any] = reported if reported is not None else {"$version": 1}
        self.desired.setdefault("$version", 1)
        self.reported.setdefault("$version", 1)

    def document(self) -> dict[str, Any]:
        return {"desired": copy.deepcopy(self.desired), "reported": copy.deepcopy(self.reported)}

    def patch_desired(self, patch: Mapping[str, Any]) -> int:
        check_depth(patch)
        merge_patch(self.desired, patch)
        self.desired["$version"] = int(self.desired["$version"]) + 1
        return int(self.desired["$version"])

    def replace_desired(self, desired: Mapping[str, Any]) -> None:
        version = int(self.desired.get("$version", 0)) + 1
        self.desired = {**copy.deepcopy(dict(desired)), "$version": version}

    def patch_reported(self, patch: Mapping[str, Any]) -> int:
        check_depth(patch)
        merge_patch(self.reported, patch)
        self.reported["$version"] = int(self.reported["$version"]) + 1
        return int(self.reported["$version"])
