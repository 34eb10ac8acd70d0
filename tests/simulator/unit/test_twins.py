"""Twin properties merged as IoT Hub merges a patch (JSON merge patch, RFC 7396, with $-metadata kept apart).

RFC 7396: an object in the patch merges into the target recursively, ``null`` removes the member,
any other value (arrays included) replaces it. IoT Hub: each accepted patch increments ``$version``
by one; keys starting with ``$`` are the service's metadata, never a client's to set.
"""

from __future__ import annotations

from typing import Any

import pytest

from edgesim.hub import twins
from edgesim.hub.twins import Twin


def merged(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    twins.merge_patch(target, patch)
    return target


def test_null_deletes_a_key() -> None:
    assert merged({"a": 1, "b": 2}, {"a": None}) == {"b": 2}
    assert merged({"b": 2}, {"missing": None}) == {"b": 2}


def test_nested_objects_merge_and_nested_null_deletes() -> None:
    target = {"settings": {"rate": 1, "mode": "fast", "deep": {"x": 1, "y": 2}}, "keep": True}
    patch = {"settings": {"rate": 5, "mode": None, "deep": {"y": None, "z": 3}}}
    assert merged(target, patch) == {"settings": {"rate": 5, "deep": {"x": 1, "z": 3}}, "keep": True}


def test_nulls_inside_a_new_object_are_not_stored() -> None:
    # RFC 7396: MergePatch({}, {"new": {"n": null, "k": 1}}) is {"new": {"k": 1}}.
    assert merged({}, {"new": {"n": None, "k": 1}}) == {"new": {"k": 1}}
    assert merged({"a": 1}, {"a": {"n": None}}) == {"a": {}}


def test_scalars_arrays_and_objects_replace_what_is_not_an_object() -> None:
    assert merged({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}  # arrays are values, not merged
    assert merged({"a": 1}, {"a": {"b": 1}}) == {"a": {"b": 1}}
    assert merged({"a": {"b": 1}}, {"a": "text"}) == {"a": "text"}


def test_the_patch_is_copied_not_shared() -> None:
    patch = {"a": {"list": [1]}}
    target: dict[str, Any] = {}
    twins.merge_patch(target, patch)
    patch["a"]["list"].append(2)
    assert target == {"a": {"list": [1]}}


def test_metadata_keys_are_not_patched() -> None:
    assert merged({"$version": 3, "a": 1}, {"$version": 99, "$metadata": {}, "a": 2}) == {"$version": 3, "a": 2}
    assert twins.without_metadata({"$version": 3, "$metadata": {}, "a": 1}) == {"a": 1}


def test_versions_start_at_one_and_increment_per_patch() -> None:
    twin = Twin()
    assert twin.document() == {"desired": {"$version": 1}, "reported": {"$version": 1}}
    assert twin.patch_desired({"rate": 5}) == 2
    assert twin.patch_desired({"rate": None, "mode": "x"}) == 3
    assert twin.patch_reported({"status": "ok"}) == 2
    assert twin.document() == {"desired": {"$version": 3, "mode": "x"}, "reported": {"$version": 2, "status": "ok"}}


def test_replacing_desired_properties_increments_the_version() -> None:
    twin = Twin(desired={"$version": 4, "old": 1})
    twin.replace_desired({"new": 2})
    assert twin.desired == {"new": 2, "$version": 5}


def test_a_given_document_keeps_its_version_and_gets_one_when_missing() -> None:
    twin = Twin(desired={"a": 1}, reported={"$version": 7})
    assert (twin.desired["$version"], twin.reported["$version"]) == (1, 7)


def test_the_document_is_a_copy() -> None:
    twin = Twin(desired={"$version": 1, "nested": {"a": 1}})
    document: Any = twin.document()
    document["desired"]["nested"]["a"] = 2
    assert twin.desired["nested"] == {"a": 1}


def test_a_patch_deeper_than_the_limit_is_refused_and_changes_nothing() -> None:
    patch: dict[str, Any] = {}
    level = patch
    for _ in range(twins.MAX_DEPTH + 1):
        level["d"] = {}
        level = level["d"]
    twin = Twin()
    with pytest.raises(twins.TwinPatchError):
        twin.patch_desired(patch)
    assert twin.desired == {"$version": 1}
