"""Random templates, .env files and route strings: only clean results or ManifestError, never a traceback."""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from edgeship.errors import ManifestError
from edgeship.manifest import GenerateOptions, ModuleInfo, generate, parse_dotenv, validate_text

dollar_text = st.text(st.sampled_from(list('ab$${}:-_.MODULES/ "\\')), max_size=25)
route_words = st.sampled_from(
    [
        "FROM",
        "INTO",
        "WHERE",
        "SELECT",
        "*",
        "/messages/*",
        "/messages/modules/sentiment/*",
        "/messages/modules/tweetsource/outputs/tweets",
        "$upstream",
        "AND",
        "NOT",
        "(",
        ")",
        'BrokeredEndpoint("/modules/sentiment/inputs/input1")',
        "$body.x",
        "=",
        "'a'",
        "1",
        "/twinChangeNotifications",
        "IS_DEFINED($body.y)",
        '"',
        "\\",
        ",",
        "ghost",
    ]
)
valid_routes = st.sampled_from(
    [
        'FROM /messages/modules/tweetsource/outputs/tweets INTO BrokeredEndpoint("/modules/sentiment/inputs/input1")',
        "FROM /messages/* WHERE $body.x > 1 INTO $upstream",
        "FROM /messages/modules/sentiment/outputs/* INTO $upstream",
    ]
)
routes = valid_routes | st.lists(route_words, max_size=10).map(" ".join) | st.text(max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 99) | dollar_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(dollar_text, inner, max_size=3),
    max_leaves=8,
)
pytestmark = pytest.mark.timeout(300)  # "never hangs": a hang fails the test instead of the whole run
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _mutate(template: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """Replace a few random spots of the template with random values."""
    document = copy.deepcopy(template)
    for _ in range(data.draw(st.integers(0, 3))):
        node: Any = document
        while isinstance(node, dict) and node and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], dict) or data.draw(st.booleans()):
                node[key] = data.draw(json_values)
                break
            node = node[key]
    return document


@SETTINGS
@given(data=st.data())
def test_random_templates_never_crash(
    data: st.DataObject, template_path: Path, tmp_path: Path, repo_modules: dict[str, ModuleInfo]
) -> None:
    template = json.loads(template_path.read_text(encoding="utf-8"))
    document = _mutate(template, data)
    hub = document.get("modulesContent", {})
    if isinstance(hub, dict) and isinstance(hub.get("$edgeHub"), dict):
        desired = hub["$edgeHub"].get("properties.desired")
        if isinstance(desired, dict) and data.draw(st.booleans()):
            desired["routes"] = {"r": data.draw(routes), "o": {"route": data.draw(routes)}}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    env = tmp_path / ".env"
    valid_env = st.lists(st.sampled_from(["A=1", "export B='x y'", 'RUNTIME_TAG="1.5.2"', "# c", ""])).map("\n".join)
    junk_env = st.text(st.sampled_from(list("AB=_ '\"#\\$\nx")), max_size=40)
    env.write_text(data.draw(valid_env | junk_env), encoding="utf-8")
    try:
        generated = generate(GenerateOptions(path, "amd64", env, environ={"A": "1"}), repo_modules)
    except ManifestError as exc:
        event(f"refused: {type(exc).__name__}")
        return
    event("generated")
    assert not generated.report.errors


@SETTINGS
@given(route=routes)
def test_random_routes_in_a_manifest_never_crash(
    route: str, default_manifest: dict[str, Any], repo_modules: dict[str, ModuleInfo]
) -> None:
    document = copy.deepcopy(default_manifest)
    document["modulesContent"]["$edgeHub"]["properties.desired"]["routes"]["fuzz"] = route
    report = validate_text(json.dumps(document), "d.json", repo_modules)[1]
    for diagnostic in report.diagnostics:
        assert diagnostic.position.line >= 1
        assert diagnostic.position.column >= 1


@SETTINGS
@given(text=st.text(max_size=60) | st.text(st.sampled_from(list("AB=_ '\"#\\$\nx\texport")), max_size=60))
def test_random_dotenv_never_crashes(text: str) -> None:
    try:
        values = parse_dotenv(text)
    except ManifestError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())


@SETTINGS
@given(text=st.text(max_size=80))
def test_random_text_as_a_manifest_never_crashes(text: str) -> None:
    with contextlib.suppress(ManifestError):
        validate_text(text, "d.json", {})


@SETTINGS
@given(data=st.data())
def test_what_we_accept_the_public_schema_accepts(
    data: st.DataObject, default_manifest: dict[str, Any], repo_root: Path, repo_modules: dict[str, ModuleInfo]
) -> None:
    public = repo_root.parent / "shared" / "reference" / "azure-iot-edge-deployment-2.0.json"
    if not public.is_file():
        pytest.skip("the public schema is not beside the repository")
    import jsonschema

    document = _mutate(default_manifest, data)
    report = validate_text(json.dumps(document), "d.json", repo_modules)[1]
    if not report.errors:
        schema = json.loads(public.read_text(encoding="utf-8"))
        assert [e.message for e in jsonschema.Draft4Validator(schema).iter_errors(document)] == []
