"""`compose`: the docs' layered deployment examples give the documented twins; our own conflicts by priority."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeship.errors import ManifestError
from edgeship.manifest import AtScale, deployment_document, validate_document
from edgeship.manifest.compose import compose, explain, select
from edgeship.manifest.deployments import Deployment, load_deployments, parse_deployment
from edgeship.manifest.jsonpos import parse_json
from edgesim.deployment import parse_deployment as sim_parse_deployment
from tests.support.layered_examples import SENSOR_IMAGE, docs_base, docs_layer

PROD = {"tags": {"environment": "prod"}}


def _load(*documents: dict[str, Any]) -> list[Deployment]:
    return [parse_deployment(doc, f"{doc['id']}.json", order) for order, doc in enumerate(documents)]


def _desired(manifest: dict[str, Any], twin: str) -> Any:
    return manifest["modulesContent"][twin]["properties.desired"]


def _assert_valid(manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2)
    report = validate_document(manifest, parse_json(text, "composed.json"), {})
    assert not report.errors, [d.format() for d in report.errors]
    sim_parse_deployment(manifest, "composed")  # what `edgeship sim start` reads


def test_docs_layered_properties_append_to_the_base_twin() -> None:
    """module-deployment-monitoring, "Module twin configuration": the device reflects both deployments."""
    layer = docs_layer({"properties.desired.layeredProperties": {"StopAfterCount": 1000}})
    result = compose(_load(docs_base(), layer), PROD)
    assert _desired(result.manifest, "SimulatedTemperatureSensor") == {
        "SendData": True,
        "SendInterval": 5,
        "layeredProperties": {"StopAfterCount": 1000},
    }
    _assert_valid(result.manifest)


def test_docs_dotted_form_is_the_same_as_the_nested_one() -> None:
    """how-to-deploy-cli-at-scale: properties.desired.layeredProperties.SendData "expresses the same"."""
    nested = docs_layer({"properties.desired.layeredProperties": {"SendData": True, "SendInterval": 5}})
    dotted = docs_layer(
        {"properties.desired.layeredProperties.SendData": True, "properties.desired.layeredProperties.SendInterval": 5}
    )
    one = compose(_load(docs_base(), nested), PROD).manifest
    other = compose(_load(docs_base(), dotted), PROD).manifest
    assert one == other
    assert _desired(one, "SimulatedTemperatureSensor")["layeredProperties"] == {"SendData": True, "SendInterval": 5}


def test_docs_layer_with_whole_desired_overwrites_the_base_twin() -> None:
    """The page's layered example sets properties.desired: it "overwrites the desired properties for that
    module in any lower priority deployments"; its module and route replace the base's of the same name."""
    layer = docs_layer({"properties.desired": {"SendData": False}})
    result = compose(_load(docs_base(), layer), PROD)
    assert _desired(result.manifest, "SimulatedTemperatureSensor") == {"SendData": False}
    agent = _desired(result.manifest, "$edgeAgent")
    assert agent["modules"]["SimulatedTemperatureSensor"]["version"] == "1.0"  # the layer's, not the base's 1.1
    assert agent["systemModules"]["edgeHub"]["settings"]["image"] == "mcr.microsoft.com/azureiotedge-hub:1.6"
    hub = _desired(result.manifest, "$edgeHub")
    assert hub["routes"] == {"upstream": "FROM /messages/* INTO $upstream"}
    assert hub["storeAndForwardConfiguration"] == {"timeToLiveSecs": 7200}
    sources = result.sources
    assert sources["$edgeAgent"][("modules", "SimulatedTemperatureSensor", "version")] == "docs-layer"
    assert sources["$edgeAgent"][("schemaVersion",)] == "docs-base"
    _assert_valid(result.manifest)


def _module(image: str) -> dict[str, Any]:
    return {
        "version": "1.0",
        "type": "docker",
        "status": "running",
        "restartPolicy": "always",
        "settings": {"image": image, "createOptions": "{}"},
    }


def _layer(
    deployment_id: str,
    priority: int,
    condition: str,
    agent: dict[str, Any] | None = None,
    hub: dict[str, Any] | None = None,
    twins: dict[str, Any] | None = None,
    created: str | None = None,
) -> dict[str, Any]:
    content: dict[str, Any] = {"$edgeAgent": agent or {}, "$edgeHub": hub or {}, **(twins or {})}
    document = {
        "id": deployment_id,
        "targetCondition": condition,
        "priority": priority,
        "content": {"modulesContent": content},
    }
    if created:
        document["createdTimeUtc"] = created
    return document


def test_our_conflicting_priorities() -> None:
    """Two bases and three layers on one device: the highest base wins alone; layers land in ascending
    priority, so on a module, route or desired path both set, the higher one's value stays."""
    low_base = docs_base() | {"id": "low-base", "priority": 5, "targetCondition": "tags.site = 'plant1'"}
    high_base = docs_base() | {"id": "high-base", "priority": 50}
    camera_a = _layer(
        "camera-a",
        60,
        "tags.camera = true",
        agent={"properties.desired.modules.camera": _module("example.com/camera:1")},
        hub={"properties.desired.routes.camera": "FROM /messages/modules/camera/* INTO $upstream"},
        twins={"camera": {"properties.desired": {"fps": 10, "zoom": {"level": 1, "mode": "auto"}}}},
    )
    camera_b = _layer(
        "camera-b",
        70,
        "tags.site = 'plant1'",
        agent={"properties.desired.modules.camera": _module("example.com/camera:2")},
        hub={"properties.desired.routes.camera": "FROM /messages/modules/camera/outputs/out INTO $upstream"},
        twins={
            "camera": {"properties.desired.zoom.level": 3},
            "SimulatedTemperatureSensor": {"properties.desired.SendInterval": 60},
        },
    )
    too_low = _layer("too-low", 50, "*", twins={"SimulatedTemperatureSensor": {"properties.desired.SendData": False}})
    other_site = _layer(
        "other-site",
        99,
        "tags.site = 'plant2'",
        twins={"SimulatedTemperatureSensor": {"properties.desired.SendInterval": 1}},
    )
    deployments = _load(camera_b, low_base, camera_a, high_base, too_low, other_site)
    device = {"deviceId": "d1", "tags": {"environment": "prod", "site": "plant1", "camera": True}}
    result = compose(deployments, device)
    selection = result.selection
    assert selection.base is not None
    assert selection.base.id == "high-base"
    assert [d.id for d in selection.layers] == ["camera-a", "camera-b"]
    assert {d.id for d, _ in selection.skipped} == {"low-base", "too-low"}
    assert "not above base high-base's 50" in {d.id: r for d, r in selection.skipped}["too-low"]
    agent, hub = _desired(result.manifest, "$edgeAgent"), _desired(result.manifest, "$edgeHub")
    assert agent["modules"]["camera"]["settings"]["image"] == "example.com/camera:2"
    assert set(agent["modules"]) == {"SimulatedTemperatureSensor", "camera"}
    assert hub["routes"] == {
        "upstream": "FROM /messages/* INTO $upstream",
        "camera": "FROM /messages/modules/camera/outputs/out INTO $upstream",
    }
    assert _desired(result.manifest, "camera") == {"fps": 10, "zoom": {"level": 3, "mode": "auto"}}
    assert _desired(result.manifest, "SimulatedTemperatureSensor") == {"SendData": True, "SendInterval": 60}
    _assert_valid(result.manifest)
    lines = explain(result, deployments)
    assert lines[0] == "base: high-base (high-base.json, base, priority 50)"
    assert "layer: camera-b (camera-b.json, layered, priority 70)" in lines
    assert "$edgeAgent modules.camera: camera-b (camera-b.json)" in lines
    assert "$edgeHub routes.upstream: high-base (high-base.json)" in lines
    assert "camera zoom.level: camera-b (camera-b.json)" in lines
    assert "camera zoom.mode: camera-a (camera-a.json)" in lines
    assert "SimulatedTemperatureSensor SendInterval: camera-b (camera-b.json)" in lines
    assert "SimulatedTemperatureSensor SendData: high-base (high-base.json)" in lines


def test_a_layer_replacing_a_module_drops_the_old_settings_and_null_removes() -> None:
    base = docs_base()
    layer = _layer(
        "l",
        20,
        "*",
        agent={
            "properties.desired.modules.SimulatedTemperatureSensor": {
                "type": "docker",
                "status": "stopped",
                "restartPolicy": "never",
                "settings": {"image": SENSOR_IMAGE},
            }
        },
        twins={"SimulatedTemperatureSensor": {"properties.desired.SendInterval": None}},
    )
    result = compose(_load(base, layer), PROD)
    module = _desired(result.manifest, "$edgeAgent")["modules"]["SimulatedTemperatureSensor"]
    assert module == {
        "type": "docker",
        "status": "stopped",
        "restartPolicy": "never",
        "settings": {"image": SENSOR_IMAGE},
    }
    assert _desired(result.manifest, "SimulatedTemperatureSensor") == {"SendData": True}
    assert ("SendInterval",) not in result.sources["SimulatedTemperatureSensor"]


def test_equal_priority_bases() -> None:
    """Equal priority: the most recently created wins (module-deployment-monitoring); without
    createdTimeUtc, the later input."""
    older = docs_base() | {"id": "older", "createdTimeUtc": "2026-01-02T00:00:00Z"}
    newer = docs_base() | {"id": "newer", "createdTimeUtc": "2026-03-04T05:06:07.123Z"}
    by_time = select(_load(newer, older), PROD)
    assert by_time.base is not None
    assert by_time.base.id == "newer"
    assert by_time.tie is None  # documented, so nothing to warn about
    first, second = docs_base() | {"id": "first"}, docs_base() | {"id": "second"}
    selection = select(_load(first, second), PROD)
    assert selection.base is not None
    assert selection.base.id == "second"
    assert selection.tie is not None
    assert "later among the inputs" in selection.tie


def test_layers_of_equal_priority_apply_in_input_order() -> None:
    one = _layer("one", 20, "*", twins={"SimulatedTemperatureSensor": {"properties.desired.SendInterval": 1}})
    two = _layer("two", 20, "*", twins={"SimulatedTemperatureSensor": {"properties.desired.SendInterval": 2}})
    assert (
        _desired(compose(_load(docs_base(), one, two), PROD).manifest, "SimulatedTemperatureSensor")["SendInterval"]
        == 2
    )
    assert (
        _desired(compose(_load(docs_base(), two, one), PROD).manifest, "SimulatedTemperatureSensor")["SendInterval"]
        == 1
    )


def test_what_atscale_writes_composes_back(default_manifest: dict[str, Any]) -> None:
    """Our own writer's base and layered documents compose to the manifest the layer came from."""
    changed = copy.deepcopy(default_manifest)
    changed["modulesContent"]["tweetsource"]["properties.desired"]["rate_per_sec"] = 50
    changed["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]["tweetsource"]["env"]["X"] = {"value": "1"}
    base = deployment_document(default_manifest, AtScale("tags.environment='prod'", 10, "prod"))
    layer = deployment_document(changed, AtScale("tags.fast = true", 20, "fast", layered=True))
    deployments = _load(base, layer)
    assert [d.layered for d in deployments] == [False, True]
    result = compose(deployments, {"tags": {"environment": "prod", "fast": True}})
    assert result.manifest == {"modulesContent": changed["modulesContent"]}
    assert compose(deployments, {"tags": {"environment": "prod"}}).manifest == {
        "modulesContent": default_manifest["modulesContent"]
    }
    _assert_valid(result.manifest)


def test_no_base_is_an_error() -> None:
    layer = docs_layer({"properties.desired.x": 1})
    with pytest.raises(ManifestError, match="no base deployment targets this device, only layered ones"):
        compose(_load(layer), PROD)
    with pytest.raises(ManifestError, match="no deployment's targetCondition matches"):
        compose(_load(docs_base()), {"tags": {"environment": "dev"}})
    with pytest.raises(ManifestError, match=r"capabilities\.iotEdge is false"):
        compose(_load(docs_base()), {"tags": {"environment": "prod"}, "capabilities": {"iotEdge": False}})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(targetCondition="tags.x = "), "targetCondition 'tags.x = ' does not parse: column 10"),
        (lambda d: d.update(colour="red"), "unknown key 'colour'"),
        (lambda d: d.pop("priority"), "missing 'priority'"),
        (lambda d: d.update(priority="10"), "priority must be an integer"),
        (lambda d: d["content"].update(deviceContent={}), "content: unknown key 'deviceContent'"),
        (lambda d: d.update(content={"deviceContent": {}}), "automatic device configuration"),
        (lambda d: d["content"]["modulesContent"]["$edgeHub"].update(routes={}), "unknown key 'routes'"),
        (lambda d: d["content"]["modulesContent"].pop("$edgeHub"), "a base deployment needs modulesContent.$edgeHub"),
        (lambda d: d.update(createdTimeUtc="yesterday"), "createdTimeUtc 'yesterday' is not an ISO 8601 time"),
    ],
)
def test_bad_base_documents(change: Any, message: str) -> None:
    document = docs_base()
    change(document)
    with pytest.raises(ManifestError) as caught:
        parse_deployment(document, "base.json")
    assert str(caught.value).startswith("base.json: ")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("twins", "message"),
    [
        ({"$edgeHub": {"properties.desired.routes.r": "FROM /* INTO $upstream"}}, "needs an $edgeAgent object"),
        ({"$edgeAgent": {"properties.desired.systemModules.edgeHub": {}}}, "do not configure the system modules"),
        (
            {"$edgeAgent": {"properties.desired.modules.m": {}}, "$edgeHub": {"properties.desired": {}}},
            "only through properties.desired.<path> keys",
        ),
        ({"$edgeAgent": {"properties.desired.modules..m": {}}}, "has an empty name in its path"),
    ],
)
def test_bad_layered_documents(twins: dict[str, Any], message: str) -> None:
    document = {"id": "l", "targetCondition": "*", "priority": 1, "content": {"modulesContent": twins}}
    with pytest.raises(ManifestError, match=r"^layer\.json: ") as caught:
        parse_deployment(document, "layer.json")
    assert message in str(caught.value)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(json.dumps(docs_base()), encoding="utf-8")
    with pytest.raises(ManifestError, match=r"b\.json: deployment id 'docs-base' is also the id of .*a\.json"):
        load_deployments([tmp_path / "a.json", tmp_path / "b.json"])


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 30) | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "properties.desired",
                    "properties.desired.modules.m",
                    "properties.desired.routes.r",
                    "properties.desired.a.b",
                    "modules",
                    "routes",
                    "$edgeAgent",
                    "$edgeHub",
                    "m",
                    "x",
                    "",
                ]
            ),
            inner,
            max_size=3,
        )
    ),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["id", "targetCondition", "priority", "content", "createdTimeUtc", "labels"]),
    _JSON,
    st.sampled_from(["$edgeAgent", "$edgeHub", "SimulatedTemperatureSensor", "m"]),
    _JSON,
)
def test_any_document_loads_and_composes_or_fails_with_a_manifest_error(
    key: str, value: Any, twin: str, body: Any
) -> None:
    """Random values in a base's fields and in a layer's twin: a ManifestError or a result, never a crash."""
    base = docs_base() | {key: value}
    layer = docs_layer({}) | {"targetCondition": "*"}
    layer["content"]["modulesContent"][twin] = body
    try:
        deployments = _load(base, layer)
        result = compose(deployments, PROD)
    except ManifestError:
        return
    text = json.dumps(result.manifest)
    validate_document(result.manifest, parse_json(text, "composed.json"), {})
    explain(result, deployments)
