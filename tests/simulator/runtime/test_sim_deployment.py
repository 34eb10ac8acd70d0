"""The simulator's typed manifest reader: good manifests and one clear error per bad case."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from edgesim.deployment import DeploymentError, ModuleStatus, RestartPolicy, load_deployment, parse_deployment


def manifest() -> dict[str, Any]:
    return {
        "modulesContent": {
            "$edgeAgent": {
                "properties.desired": {
                    "schemaVersion": "1.1",
                    "runtime": {"type": "docker", "settings": {"minDockerVersion": "v1.25"}},
                    "systemModules": {
                        "edgeAgent": {
                            "type": "docker",
                            "settings": {"image": "mcr.microsoft.com/azureiotedge-agent:1.6"},
                        },
                        "edgeHub": {
                            "type": "docker",
                            "status": "running",
                            "restartPolicy": "always",
                            "settings": {
                                "image": "mcr.microsoft.com/azureiotedge-hub:1.6",
                                "createOptions": '{"HostConfig":{"PortBindings":{}}}',
                            },
                        },
                    },
                    "modules": {
                        "sentiment": {
                            "version": "1.0",
                            "type": "docker",
                            "status": "running",
                            "restartPolicy": "on-failure",
                            "startupOrder": 2,
                            "env": {"MODEL_DIR": {"value": "./model"}, "BATCH": {"value": 8}},
                            "settings": {
                                "image": "localhost:5000/sentiment:0.1.0-amd64",
                                "createOptions": '{"HostConfig":',
                                "createOptions01": '{"Memory":1}}',
                            },
                        },
                        "tweetsource": {
                            "type": "docker",
                            "status": "stopped",
                            "restartPolicy": "never",
                            "settings": {"image": "localhost:5000/tweetsource:0.1.0-amd64"},
                        },
                    },
                }
            },
            "$edgeHub": {
                "properties.desired": {
                    "schemaVersion": "1.1",
                    "routes": {
                        "a": "FROM /messages/modules/tweetsource/outputs/tweets "
                        'INTO BrokeredEndpoint("/modules/sentiment/inputs/input1")',
                        "b": {
                            "route": "FROM /messages/modules/sentiment/outputs/* INTO $upstream",
                            "priority": 1,
                            "timeToLiveSecs": 60,
                        },
                    },
                    "storeAndForwardConfiguration": {"timeToLiveSecs": 120},
                }
            },
            "sentiment": {"properties.desired": {"thresholds": {"low": 0.4}}},
        }
    }


def test_reads_modules_routes_and_desired_properties(tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(manifest()))
    deployment = load_deployment(path)
    assert deployment.module_names == ("sentiment", "tweetsource")
    sentiment = deployment.module("sentiment")
    assert sentiment.status is ModuleStatus.RUNNING
    assert sentiment.restart_policy is RestartPolicy.ON_FAILURE
    assert sentiment.startup_order == 2
    assert sentiment.env == {"MODEL_DIR": "./model", "BATCH": "8"}
    assert sentiment.create_options == {"HostConfig": {"Memory": 1}}
    tweets = deployment.module("tweetsource")
    assert tweets.status is ModuleStatus.STOPPED
    assert (tweets.restart_policy, tweets.startup_order) == (RestartPolicy.NEVER, None)
    assert deployment.store_ttl_secs == 120
    assert deployment.routes["b"] == {
        "route": "FROM /messages/modules/sentiment/outputs/* INTO $upstream",
        "priority": 1,
        "timeToLiveSecs": 60,
    }
    assert deployment.desired == {"sentiment": {"thresholds": {"low": 0.4}}}
    assert [m.name for m in deployment.system_modules] == ["edgeAgent", "edgeHub"]
    assert deployment.system_modules[1].create_options == {"HostConfig": {"PortBindings": {}}}
    assert (deployment.agent_schema_version, deployment.hub_schema_version) == ("1.1", "1.1")


def test_what_edgeagent_accepts_the_simulator_reads() -> None:
    document = manifest()
    sentiment = document["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]["sentiment"]
    sentiment["settings"] = {"image": "x:1", "createOptions": ""}  # iotedgedev's templates write ""
    sentiment["env"] = {"Logging:LogLevel:Default": {"value": "Debug"}, "FLAG": {"value": True}}
    spec = parse_deployment(document).module("sentiment")
    assert spec.create_options == {}
    assert spec.env == {"Logging:LogLevel:Default": "Debug", "FLAG": "True"}


def test_defaults_and_at_scale_wrapper() -> None:
    doc = manifest()
    hub = doc["modulesContent"]["$edgeHub"]["properties.desired"]
    del hub["storeAndForwardConfiguration"], hub["routes"]
    module = doc["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]["tweetsource"]
    del module["status"], module["restartPolicy"]
    deployment = parse_deployment({"content": doc, "targetCondition": "tags.x='y'", "priority": 10})
    assert deployment.store_ttl_secs == 7200
    assert deployment.routes == {}
    assert deployment.module("tweetsource").restart_policy is RestartPolicy.ALWAYS
    assert deployment.module("tweetsource").status is ModuleStatus.RUNNING


AGENT = ("modulesContent", "$edgeAgent", "properties.desired")
HUB = ("modulesContent", "$edgeHub", "properties.desired")
SENTIMENT = (*AGENT, "modules", "sentiment")


def _set(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DELETE = object()

BAD_CASES = [
    ((*SENTIMENT, "status"), "paused", "modules.sentiment.status: expected one of running, stopped, got 'paused'"),
    ((*SENTIMENT, "restartPolicy"), "sometimes", "modules.sentiment.restartPolicy: expected one of never, on-failure"),
    ((*SENTIMENT, "startupOrder"), -1, "modules.sentiment.startupOrder: expected a non-negative integer"),
    ((*SENTIMENT, "settings"), _DELETE, "modules.sentiment.settings: missing"),
    ((*SENTIMENT, "settings", "image"), 5, "modules.sentiment.settings.image: expected a string, got int"),
    (
        (*SENTIMENT, "settings", "createOptions01"),
        "{broken",
        "modules.sentiment.settings.createOptions: not valid JSON",
    ),
    ((*SENTIMENT, "env", "MODEL_DIR"), {"val": "x"}, "modules.sentiment.env.MODEL_DIR.value: missing"),
    ((*SENTIMENT, "env"), {"A=B": {"value": "x"}}, "modules.sentiment.env.A=B: not a valid environment variable name"),
    ((*SENTIMENT, "env", "MODEL_DIR"), {"value": [1]}, "MODEL_DIR.value: expected a string, number or boolean"),
    ((*AGENT, "modules", "bad name"), {"settings": {"image": "x"}}, "modules.bad name: module names may only hold"),
    ((*AGENT, "schemaVersion"), _DELETE, "$edgeAgent.properties.desired.schemaVersion: missing"),
    ((*AGENT, "systemModules"), _DELETE, "$edgeAgent.properties.desired.systemModules: missing"),
    ((*HUB, "schemaVersion"), 1.1, "$edgeHub.properties.desired.schemaVersion: expected a string, got float"),
    ((*HUB, "routes", "a"), 7, "$edgeHub.properties.desired.routes.a: expected a route string or object, got int"),
    ((*HUB, "routes", "b", "route"), _DELETE, "routes.b.route: missing"),
    ((*HUB, "storeAndForwardConfiguration", "timeToLiveSecs"), "1h", "storeAndForwardConfiguration.timeToLiveSecs"),
    (("modulesContent", "$edgeHub"), _DELETE, "manifest.modulesContent.$edgeHub: missing"),
    (("modulesContent", "ghost"), {"properties.desired": {}}, "modulesContent.ghost: desired properties for a module"),
    (("modulesContent", "sentiment", "properties.desired"), [], "sentiment.properties.desired: expected an object"),
]


@pytest.mark.parametrize(("path", "value", "expected"), BAD_CASES, ids=[case[2][:40] for case in BAD_CASES])
def test_each_bad_case_names_its_json_path(path: tuple[str, ...], value: Any, expected: str) -> None:
    doc = _set(copy.deepcopy(manifest()), path, value)
    with pytest.raises(DeploymentError) as info:
        parse_deployment(doc)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_file_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(DeploymentError, match="cannot read"):
        load_deployment(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"modulesContent": ')
    with pytest.raises(DeploymentError, match=r"broken.json: not valid JSON \(.* line 1"):
        load_deployment(broken)
    with pytest.raises(DeploymentError, match="manifest: expected an object, got list"):
        parse_deployment([])
