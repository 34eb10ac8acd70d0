"""The redeploy plan (edgesim.agent.reconcile): which modules a new deployment adds, removes, restarts, patches."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from edgesim.agent.reconcile import ModuleChange, Plan, desired_patch, plan
from edgesim.deployment import Deployment, parse_deployment


def module(image: str = "localhost:5000/m:1", **fields: Any) -> dict[str, Any]:
    return {
        "version": "1.0",
        "type": "docker",
        "status": "running",
        "restartPolicy": "always",
        "settings": {"image": image, "createOptions": "{}"},
        **fields,
    }


def document(
    modules: dict[str, Any],
    routes: dict[str, Any] | None = None,
    ttl: int = 7200,
    desired: dict[str, Any] | None = None,
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "$edgeAgent": {
            "properties.desired": {
                "schemaVersion": "1.1",
                "runtime": {"type": "docker", "settings": {}},
                "systemModules": {
                    "edgeAgent": {"type": "docker", "settings": {"image": "agent:1.6"}},
                    "edgeHub": {"type": "docker", "settings": {"image": "hub:1.6"}},
                },
                "modules": modules,
            }
        },
        "$edgeHub": {
            "properties.desired": {
                "schemaVersion": "1.1",
                "routes": routes or {},
                "storeAndForwardConfiguration": {"timeToLiveSecs": ttl},
            }
        },
    }
    for name, properties in (desired or {}).items():
        content[name] = {"properties.desired": properties}
    return {"modulesContent": content}


def deployment(doc: dict[str, Any]) -> Deployment:
    return parse_deployment(doc)


BASE = document(
    {"a": module(), "b": module(startupOrder=1, env={"K": {"value": "1"}}), "c": module()},
    routes={"r": "FROM /messages/* INTO $upstream"},
    desired={"a": {"x": 1, "nested": {"p": 1, "q": 2}}},
)


def test_the_same_deployment_changes_nothing() -> None:
    result = plan(deployment(BASE), deployment(copy.deepcopy(BASE)))
    assert result == Plan(unchanged=("a", "b", "c"))
    assert result.is_empty


def test_added_removed_changed_patched_and_unchanged_are_told_apart() -> None:
    new = copy.deepcopy(BASE)
    modules = new["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]
    del modules["c"]
    modules["d"] = module("localhost:5000/d:1")
    modules["b"]["env"]["K"]["value"] = "2"
    new["modulesContent"]["a"]["properties.desired"]["x"] = 2
    result = plan(deployment(BASE), deployment(new))
    assert result.added == ("d",)
    assert result.removed == ("c",)
    assert result.changed == (ModuleChange("b", ("env",)),)
    assert result.restarted == ("b",)
    assert result.unchanged == ("a",)
    assert result.patched == ("a",)
    assert not result.routes_changed
    assert not result.store_ttl_changed
    assert result.to_json() == {
        "added": ["d"],
        "removed": ["c"],
        "restarted": {"b": ["env"]},
        "unchanged": ["a"],
        "patched": ["a"],
        "routes_changed": False,
        "store_ttl_changed": False,
        "store_limits_changed": False,
    }


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("settings", {"image": "localhost:5000/m:2", "createOptions": "{}"}, "settings.image"),
        ("settings", {"image": "localhost:5000/m:1", "createOptions": '{"Env": ["A=1"]}'}, "settings.createOptions"),
        ("env", {"NEW": {"value": "x"}}, "env"),
        ("version", "2.0", "version"),
        ("restartPolicy", "never", "restartPolicy"),
        ("status", "stopped", "status"),
        ("startupOrder", 3, "startupOrder"),
        ("imagePullPolicy", "never", "imagePullPolicy"),
    ],
)
def test_every_field_edgeagent_compares_restarts_the_module(field: str, value: Any, reason: str) -> None:
    new = copy.deepcopy(BASE)
    new["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]["c"][field] = value
    result = plan(deployment(BASE), deployment(new))
    assert result.changed == (ModuleChange("c", (reason,)),)
    assert result.unchanged == ("a", "b")


def test_create_options_chunks_and_key_order_are_not_a_change() -> None:
    # createOptions compare as the JSON they join into, not as text.
    old = document({"m": module(settings={"image": "i", "createOptions": '{"A": 1, "B": {"C": 2}}'})})
    new = document(
        {"m": module(settings={"image": "i", "createOptions": '{"B": {"C": 2},', "createOptions01": ' "A": 1}'})}
    )
    assert plan(deployment(old), deployment(new)).unchanged == ("m",)


def test_several_reasons_are_listed_in_a_fixed_order() -> None:
    new = copy.deepcopy(BASE)
    c = new["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]["c"]
    c.update(status="stopped", version="9", settings={"image": "other", "createOptions": "{}"})
    [change] = plan(deployment(BASE), deployment(new)).changed
    assert change.reasons == ("settings.image", "version", "status")


def test_routes_ttl_and_desired_properties_do_not_restart_anything() -> None:
    new = copy.deepcopy(BASE)
    hub = new["modulesContent"]["$edgeHub"]["properties.desired"]
    hub["routes"]["s"] = "FROM /messages/modules/a/* INTO $upstream"
    hub["storeAndForwardConfiguration"]["timeToLiveSecs"] = 60
    new["modulesContent"]["b"] = {"properties.desired": {"fresh": True}}
    result = plan(deployment(BASE), deployment(new))
    assert result.changed == ()
    assert result.unchanged == ("a", "b", "c")
    assert result.patched == ("b",)
    assert result.routes_changed
    assert result.store_ttl_changed


def test_a_new_store_limit_is_a_live_change_not_a_restart() -> None:
    new = copy.deepcopy(BASE)
    new["modulesContent"]["$edgeHub"]["properties.desired"]["storeAndForwardConfiguration"]["storeLimits"] = {
        "maxSizeBytes": 1_000_000
    }
    result = plan(deployment(BASE), deployment(new))
    assert result.changed == ()
    assert result.store_limits_changed
    assert not result.store_ttl_changed
    assert not result.is_empty
    assert result.to_json()["store_limits_changed"] is True
    assert not plan(deployment(new), deployment(copy.deepcopy(new))).store_limits_changed


def test_a_module_without_desired_properties_in_the_new_manifest_keeps_its_twin() -> None:
    new = copy.deepcopy(BASE)
    del new["modulesContent"]["a"]
    assert plan(deployment(BASE), deployment(new)).patched == ()
    new["modulesContent"]["a"] = {"properties.desired": {}}  # an empty section does replace them
    assert plan(deployment(BASE), deployment(new)).patched == ("a",)


def test_desired_patch_holds_only_what_differs_and_nulls_what_went() -> None:
    current: dict[str, Any] = {"x": 1, "gone": "y", "nested": {"p": 1, "q": 2}, "same": [1, 2], "$version": 7}
    wanted: dict[str, Any] = {"x": 2, "nested": {"p": 1, "q": 3, "r": 4}, "same": [1, 2], "new": {"k": None}}
    assert desired_patch(current, wanted) == {"x": 2, "gone": None, "nested": {"q": 3, "r": 4}, "new": {"k": None}}
    assert desired_patch(current, {k: v for k, v in current.items() if k != "$version"}) == {}
    assert desired_patch({"a": {"b": 1}}, {"a": 5}) == {"a": 5}
    assert desired_patch({"a": 5}, {"a": {"b": 1}}) == {"a": {"b": 1}}


def test_the_plan_round_trips_through_json() -> None:
    new = copy.deepcopy(BASE)
    new["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]["a"]["version"] = "2"
    assert json.loads(json.dumps(plan(deployment(BASE), deployment(new)).to_json()))["restarted"] == {"a": ["version"]}
