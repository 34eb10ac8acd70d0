"""One broken manifest per semantic check: the message, the JSON path and the line/column."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edgeship.manifest import Diagnostic, ModuleInfo, Report, Severity, format_path, validate_text

AGENT = ("modulesContent", "$edgeAgent", "properties.desired")
HUB = ("modulesContent", "$edgeHub", "properties.desired")


def _validate(document: dict[str, Any], modules: dict[str, ModuleInfo]) -> tuple[Report, str]:
    text = json.dumps(document, indent=2)
    return validate_text(text, "deployment.json", modules)[1], text


def _where(text: str, marker: str, skip: int = 0) -> tuple[int, int]:
    """Line and column of ``marker`` (which must be unique) plus ``skip`` characters."""
    assert text.count(marker) == 1, f"marker {marker!r} must be unique"
    offset = text.index(marker) + skip
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _one(report: Report, code: str, severity: Severity = Severity.ERROR) -> Diagnostic:
    found = [d for d in report.diagnostics if d.code == code and d.severity is severity]
    assert len(found) == 1, [d.format() for d in report.diagnostics]
    return found[0]


def _assert(
    diagnostic: Diagnostic, text: str, marker: str, path: tuple[str | int, ...], message: str, skip: int = 0
) -> None:
    assert message in diagnostic.message
    assert diagnostic.path == path
    assert (diagnostic.position.line, diagnostic.position.column) == _where(text, marker, skip)
    assert diagnostic.position.file == "deployment.json"


def _modules(manifest: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = manifest["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]
    return result


def _routes(manifest: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = manifest["modulesContent"]["$edgeHub"]["properties.desired"]["routes"]
    return result


def test_the_default_manifest_is_clean(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    report, _ = _validate(manifest, repo_modules)
    assert report.diagnostics == ()


def test_route_syntax_points_inside_the_route(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    _routes(manifest)["sentimentToUpstream"] = "FROM /messages/modules/sentiment/outputs/output1 INTOO $upstream"
    report, text = _validate(manifest, repo_modules)
    diagnostic = _one(report, "route-syntax")
    _assert(
        diagnostic, text, "INTOO", (*HUB, "routes", "sentimentToUpstream"), "route 'sentimentToUpstream' does not parse"
    )


def test_route_from_an_unknown_module(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    _routes(manifest)["sentimentToUpstream"] = "FROM /messages/modules/ghost/outputs/output1 INTO $upstream"
    report, text = _validate(manifest, repo_modules)
    # a warning: edgeHub accepts routes to modules a deployment lacks (layered deployments add them)
    _assert(
        _one(report, "route-unknown-module", Severity.WARNING),
        text,
        "ghost/outputs",
        (*HUB, "routes", "sentimentToUpstream"),
        "reads from module 'ghost', which the deployment does not define",
    )
    assert report.errors == []


def test_route_into_an_undeclared_input(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    _routes(manifest)["tweetsToSentiment"] = (
        'FROM /messages/modules/tweetsource/outputs/tweets INTO BrokeredEndpoint("/modules/sentiment/inputs/input9")'
    )
    report, text = _validate(manifest, repo_modules)
    _assert(
        _one(report, "route-unknown-input"),
        text,
        "input9",
        (*HUB, "routes", "tweetsToSentiment"),
        "module 'sentiment' declares no input 'input9' (it declares: input1)",
    )


def test_route_from_an_undeclared_output(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    _routes(manifest)["sentimentToUpstream"] = {
        "route": "FROM /messages/modules/sentiment/outputs/scores INTO $upstream",
        "priority": 2,
    }
    report, text = _validate(manifest, repo_modules)
    _assert(
        _one(report, "route-unknown-output"),
        text,
        "scores",
        (*HUB, "routes", "sentimentToUpstream", "route"),
        "module 'sentiment' declares no output 'scores' (it declares: output1, errors)",
    )


def test_unused_output_is_a_warning(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    del _routes(manifest)["sentimentErrorsToUpstream"]
    report, text = _validate(manifest, repo_modules)
    diagnostic = _one(report, "unused-output", Severity.WARNING)
    _assert(
        diagnostic,
        text,
        '          "sentiment": {\n            "version"',
        (*AGENT, "modules", "sentiment"),
        "output 'errors' of module 'sentiment' is not routed anywhere",
        skip=10,
    )
    assert not report.failed()
    assert report.failed(strict=True)


def test_a_catch_all_route_uses_every_output(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    del _routes(manifest)["sentimentErrorsToUpstream"]
    _routes(manifest)["everything"] = "FROM /messages/* INTO $upstream"
    report, _ = _validate(manifest, repo_modules)
    assert [d for d in report.diagnostics if d.code == "unused-output"] == []


def test_modules_without_a_declaration_are_not_checked(
    manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]
) -> None:
    modules = {name: info for name, info in repo_modules.items() if name != "tweetsource"}
    _routes(manifest)["tweetsToSentiment"] = (
        'FROM /messages/modules/tweetsource/outputs/anything INTO BrokeredEndpoint("/modules/sentiment/inputs/input1")'
    )
    report, text = _validate(manifest, modules)
    assert report.errors == []
    _assert(
        _one(report, "interface-undeclared", Severity.INFO),
        text,
        '          "tweetsource": {\n            "version"',
        (*AGENT, "modules", "tweetsource"),
        "module 'tweetsource' declares no inputs/outputs",
        skip=10,
    )


def test_system_module_images_and_versions(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    system = manifest["modulesContent"]["$edgeAgent"]["properties.desired"]["systemModules"]
    system["edgeAgent"]["settings"]["image"] = "mcr.microsoft.com/azureiotedge-agent:1.2"
    system["edgeHub"]["settings"]["image"] = "example.com/my-hub:1.5"
    report, text = _validate(manifest, repo_modules)
    _assert(
        _one(report, "system-image-version", Severity.WARNING),
        text,
        '"mcr.microsoft.com/azureiotedge-agent:1.2"',
        (*AGENT, "systemModules", "edgeAgent", "settings", "image"),
        "IoT Edge 1.2 is end of life; use 1.6 LTS",
    )
    _assert(
        _one(report, "system-image", Severity.WARNING),
        text,
        '"example.com/my-hub:1.5"',
        (*AGENT, "systemModules", "edgeHub", "settings", "image"),
        "is not mcr.microsoft.com/azureiotedge-hub",
    )
    system["edgeHub"]["settings"]["image"] = "mcr.microsoft.com/azureiotedge-hub:1.6.1"
    report, text = _validate(manifest, repo_modules)
    eol = [d for d in report.warnings if "end of life" in d.message]
    assert len(eol) == 1
    assert eol[0].path[-3] == "edgeAgent"
    system["edgeAgent"]["settings"]["image"] = "mcr.microsoft.com/azureiotedge-agent:1.5.3"
    report, text = _validate(manifest, repo_modules)
    ended = [d.message for d in report.warnings if "end of support" in d.message]
    assert ended == [
        "edgeAgent 1.5.3: IoT Edge 1.5 reached end of support on 2026-11-10; use 1.6 LTS (supported to 2028-11-14)"
    ]
    mismatch = [d for d in report.warnings if "run one runtime version" in d.message]
    assert len(mismatch) == 1
    assert mismatch[0].path[-4:] == ("systemModules", "edgeHub", "settings", "image")


def test_restart_policy_and_status_words(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    _modules(manifest)["sentiment"]["restartPolicy"] = "sometimes"
    _modules(manifest)["tweetsource"]["status"] = "paused"
    report, text = _validate(manifest, repo_modules)
    by_path = {d.path[-1]: d for d in report.errors}
    _assert(
        by_path["restartPolicy"],
        text,
        '"sometimes"',
        (*AGENT, "modules", "sentiment", "restartPolicy"),
        "'sometimes' is not one of: never, on-failure, on-unhealthy, always",
    )
    _assert(
        by_path["status"],
        text,
        '"paused"',
        (*AGENT, "modules", "tweetsource", "status"),
        "'paused' is not one of: running, stopped",
    )


def test_env_names(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    env = _modules(manifest)["sentiment"]["env"]
    env["BAD NAME"] = {"value": "x"}
    env["dash-name"] = {"value": "x"}
    env["IOTEDGE_MODULEID"] = {"value": "x"}
    report, text = _validate(manifest, repo_modules)
    base = (*AGENT, "modules", "sentiment", "env")
    _assert(
        _one(report, "env-name"),
        text,
        '"BAD NAME"',
        (*base, "BAD NAME"),
        "may not hold '+', '#', '$', '.' or whitespace",
    )
    warnings = {d.path[-1]: d for d in report.warnings if d.code == "env-name"}
    _assert(warnings["dash-name"], text, '"dash-name"', (*base, "dash-name"), "not a portable shell name")
    _assert(
        warnings["IOTEDGE_MODULEID"],
        text,
        '"IOTEDGE_MODULEID"',
        (*base, "IOTEDGE_MODULEID"),
        "set by the IoT Edge agent",
    )


def test_create_options_must_be_json(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    _modules(manifest)["tweetsource"]["settings"]["createOptions"] = '{"HostConfig": {"Privileged": tru}}'
    report, text = _validate(manifest, repo_modules)
    diagnostic = _one(report, "create-options-json")
    assert "createOptions are not valid JSON: Expecting value" in diagnostic.message
    line, column = _where(text, '"{\\"HostConfig\\": {\\"Privileged')
    # at "tru": the opening quote, 30 characters, and a backslash for each of the 4 escaped quotes before it
    assert (diagnostic.position.line, diagnostic.position.column) == (line, column + 1 + 30 + 4)


def test_create_options_keys_and_types(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    options = {
        "Env": ["OK=1", "NOEQUALS"],
        "Hostnme": "typo",
        "HostConfig": {"PortBindings": {"5001/tcp": [{"HostPort": 5001}]}, "Priviledged": True},
    }
    _modules(manifest)["sentiment"]["settings"]["createOptions"] = json.dumps(options)
    report, text = _validate(manifest, repo_modules)
    base = (*AGENT, "modules", "sentiment", "settings", "createOptions")
    marker = '"createOptions": "{\\"Env'
    unknown = {d.path[-1]: d for d in report.warnings if d.code == "create-options-unknown-key"}
    assert set(unknown) == {"Hostnme", "Priviledged"}
    _assert(unknown["Hostnme"], text, marker[17:], (*base, "Hostnme"), "unknown Docker create option 'Hostnme'")
    types = {d.path[-1]: d for d in report.errors if d.code == "create-options-type"}
    _assert(
        types["HostPort"],
        text,
        marker[17:],
        (*base, "HostConfig", "PortBindings", "5001/tcp", 0, "HostPort"),
        "HostPort must be a string",
    )
    _assert(types[1], text, marker[17:], (*base, "Env", 1), "'NOEQUALS' is not NAME=value")


def test_create_options_parts(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    settings = _modules(manifest)["sentiment"]["settings"]
    settings["createOptions"] = '{"Labels": {"a": "' + "x" * 600 + '"}}'
    settings["createOptions02"] = ""
    report, text = _validate(manifest, repo_modules)
    base = (*AGENT, "modules", "sentiment", "settings")
    _assert(
        _one(report, "create-options-too-long"),
        text,
        '"{\\"Labels',
        (*base, "createOptions"),
        "each createOptions part holds at most 512",
    )
    _assert(
        _one(report, "create-options-chunks"),
        text,
        '"createOptions02": ""',
        (*base, "createOptions02"),
        "createOptions01 is missing, so the agent ignores the parts after it",
        skip=len('"createOptions02": '),
    )


def test_desired_properties_may_hold_arrays(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    # IoT Hub accepts arrays in desired properties today (the old rule rejected them); their items are checked
    manifest["modulesContent"]["sentiment"]["properties.desired"]["thresholds"] = [0.4, 0.7, {"bad key": 1}]
    report, text = _validate(manifest, repo_modules)
    _assert(
        _one(report, "desired-key"),
        text,
        '"bad key"',
        ("modulesContent", "sentiment", "properties.desired", "thresholds", 2, "bad key"),
        "may not hold",
    )


def test_desired_properties_at_most_32_kb(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    manifest["modulesContent"]["tweetsource"]["properties.desired"]["blob"] = "x" * (32 * 1024)
    report, text = _validate(manifest, repo_modules)
    _assert(
        _one(report, "desired-size"),
        text,
        '{\n        "rate_per_sec"',
        ("modulesContent", "tweetsource", "properties.desired"),
        "a twin holds at most 32768 (32 KB)",
    )


def test_desired_property_names(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    manifest["modulesContent"]["tweetsource"]["properties.desired"]["rate.per.sec"] = 1
    report, text = _validate(manifest, repo_modules)
    _assert(
        _one(report, "desired-key"),
        text,
        '"rate.per.sec"',
        ("modulesContent", "tweetsource", "properties.desired", "rate.per.sec"),
        "may not hold '.', '$'",
    )


def test_module_names(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    modules = _modules(manifest)
    modules["bad.name"] = modules["tweetsource"]
    modules["edgeHub"] = modules["tweetsource"]
    manifest["modulesContent"]["nomodule"] = {"properties.desired": {}}
    report, text = _validate(manifest, repo_modules)
    names = {d.path[-1]: d for d in report.errors if d.code == "module-name"}
    _assert(
        names["bad.name"],
        text,
        '"bad.name"',
        (*AGENT, "modules", "bad.name"),
        "module name 'bad.name' may only hold letters, digits, '_' and '-'",
    )
    assert "is a system module" in names["edgeHub"].message
    _assert(
        _one(report, "twin-without-module"),
        text,
        '"nomodule"',
        ("modulesContent", "nomodule"),
        "desired properties for 'nomodule', which $edgeAgent does not deploy",
    )


def test_route_priority_and_ttl(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    _routes(manifest)["sentimentErrorsToUpstream"]["priority"] = 12
    _routes(manifest)["sentimentErrorsToUpstream"]["timeToLiveSecs"] = -5
    report, text = _validate(manifest, repo_modules)
    base = (*HUB, "routes", "sentimentErrorsToUpstream")
    _assert(_one(report, "route-priority"), text, "12", (*base, "priority"), "priority 12 is outside 0 (highest) .. 9")
    _assert(_one(report, "route-ttl"), text, "-5", (*base, "timeToLiveSecs"), "timeToLiveSecs -5 is negative")
    assert [d for d in report.errors if d.code == "schema"] == []  # one problem, one message


def test_schema_versions(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    manifest["modulesContent"]["$edgeAgent"]["properties.desired"]["schemaVersion"] = "1.0"
    manifest["modulesContent"]["$edgeHub"]["properties.desired"]["schemaVersion"] = "1.0"
    report, text = _validate(manifest, repo_modules)
    codes = [(d.code, format_path(d.path)) for d in report.errors]
    assert ("schema-version", "modulesContent.$edgeAgent['properties.desired'].modules.sentiment.startupOrder") in codes
    route = [d for d in report.errors if d.path[-1] == "sentimentErrorsToUpstream"]
    assert route
    assert "need $edgeHub schemaVersion 1.1" in route[0].message
    manifest["modulesContent"]["$edgeAgent"]["properties.desired"]["schemaVersion"] = "2.0"
    report, text = _validate(manifest, repo_modules)
    _assert(_one(report, "schema"), text, '"2.0"', (*AGENT, "schemaVersion"), "'2.0' is not one of: 1.0, 1.1")


def test_unexpanded_placeholder(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    _modules(manifest)["sentiment"]["settings"]["image"] = "${MODULES.sentiment}"
    report, text = _validate(manifest, repo_modules)
    _assert(
        _one(report, "image-placeholder"),
        text,
        '"${MODULES.sentiment}"',
        (*AGENT, "modules", "sentiment", "settings", "image"),
        "run edgeship manifest generate",
    )


def test_schema_reports_unknown_and_missing_properties(
    manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]
) -> None:
    _modules(manifest)["sentiment"]["restartpolicy"] = "always"
    del _modules(manifest)["tweetsource"]["type"]
    report, text = _validate(manifest, repo_modules)
    schema = {d.message: d for d in report.errors if d.code == "schema"}
    _assert(
        schema["unknown property 'restartpolicy'"],
        text,
        '"restartpolicy"',
        (*AGENT, "modules", "sentiment", "restartpolicy"),
        "unknown property",
    )
    assert format_path(schema["missing required property 'type'"].path).endswith("modules.tweetsource")


def test_duplicate_keys_are_warned() -> None:
    text = '{"modulesContent": {"$edgeAgent": {}, "$edgeAgent": {}}}'
    report = validate_text(text, "d.json", {})[1]
    duplicate = _one(report, "duplicate-key", Severity.WARNING)
    assert (duplicate.position.line, duplicate.position.column) == (1, 39)


def test_every_problem_is_reported_at_once(manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]) -> None:
    _modules(manifest)["sentiment"]["restartPolicy"] = "sometimes"
    manifest["modulesContent"]["sentiment"]["properties.desired"]["thresh old"] = 1
    _routes(manifest)["sentimentToUpstream"] = "FROM /messages/modules/sentiment/outputs/x WHERE a > 1 INTO $upstream"
    report, _ = _validate(manifest, repo_modules)
    assert len(report.errors) == 3
    assert all(
        d.format().startswith(f"deployment.json:{d.position.line}:{d.position.column}: error: ") for d in report.errors
    )


@pytest.mark.parametrize("layered", [False, True])
def test_at_scale_documents_validate(
    manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo], layered: bool
) -> None:
    from edgeship.manifest import AtScale, deployment_document

    document: Any = deployment_document(manifest, AtScale("tags.environment='prod'", 10, "prod-1", layered))
    report, _ = _validate(document, repo_modules)
    assert report.errors == []
    if layered:
        assert "properties.desired.modules.sentiment" in document["content"]["modulesContent"]["$edgeAgent"]
        assert document["content"]["modulesContent"]["sentiment"]["properties.desired.max_batch"] == 32
    else:
        document["content"]["modulesContent"]["sentiment"]["properties.desired"]["thresh old"] = [1]
        report, _ = _validate(document, repo_modules)
        assert report.errors[0].path[0] == "content"
        assert report.errors[0].code == "desired-key"
