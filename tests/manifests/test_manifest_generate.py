"""Template expansion: variables, module placeholders, createOptions splitting, errors with positions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgeship.errors import ManifestError
from edgeship.manifest import GenerateOptions, ManifestCheckError, ModuleInfo, generate
from edgeship.manifest.createoptions import split_create_options

AGENT_MODULES = ("modulesContent", "$edgeAgent", "properties.desired", "modules")


def manifest_of(generated: Any) -> Any:
    """The generated manifest, read by key (its JSON type does not narrow)."""
    return generated.manifest


def _template(template_path: Path, tmp_path: Path, edit: Any = None, text: str | None = None) -> Path:
    document = json.loads(template_path.read_text(encoding="utf-8"))
    if edit is not None:
        edit(document)
    path = tmp_path / "deployment.template.json"
    path.write_text(text if text is not None else json.dumps(document, indent=2), encoding="utf-8")
    return path


def _modules(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = document["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]
    return result


def test_variables_from_env_file_and_environment(
    template_path: Path, tmp_path: Path, repo_modules: dict[str, ModuleInfo]
) -> None:
    def edit(document: dict[str, Any]) -> None:
        _modules(document)["sentiment"]["env"]["GREETING"] = {"value": "$GREETING and ${QUOTED} $$5"}

    env = tmp_path / ".env"
    env.write_text(
        'GREETING=hello\nQUOTED="a \\"b\\" \\\\ c"\nRUNTIME_TAG=1.5.3\nCONTAINER_TAG=ci7\n', encoding="utf-8"
    )
    generated = generate(
        GenerateOptions(_template(template_path, tmp_path, edit), "arm32v7", env, environ={}), repo_modules
    )
    modules = _modules(generated.manifest)
    assert modules["sentiment"]["env"]["GREETING"]["value"] == 'hello and a "b" \\ c $5'
    assert modules["sentiment"]["settings"]["image"] == "localhost:5000/sentiment:0.1.0-ci7-arm32v7"
    system = manifest_of(generated)["modulesContent"]["$edgeAgent"]["properties.desired"]["systemModules"]
    assert system["edgeHub"]["settings"]["image"] == "mcr.microsoft.com/azureiotedge-hub:1.5.3"
    # the environment wins over .env
    generated = generate(
        GenerateOptions(
            _template(template_path, tmp_path, edit), "amd64", env, environ={"GREETING": "hi", "CONTAINER_TAG": ""}
        ),
        repo_modules,
    )
    assert _modules(generated.manifest)["sentiment"]["env"]["GREETING"]["value"].startswith("hi and")
    assert _modules(generated.manifest)["sentiment"]["settings"]["image"].endswith(":0.1.0-amd64")


def test_explicit_platform_placeholder(
    template_path: Path, tmp_path: Path, repo_modules: dict[str, ModuleInfo]
) -> None:
    def edit(document: dict[str, Any]) -> None:
        _modules(document)["tweetsource"]["settings"]["image"] = "${MODULES.tweetsource.arm64v8}"

    generated = generate(GenerateOptions(_template(template_path, tmp_path, edit), "amd64", environ={}), repo_modules)
    assert (
        _modules(generated.manifest)["tweetsource"]["settings"]["image"] == "localhost:5000/tweetsource:0.1.0-arm64v8"
    )


def test_every_unknown_variable_is_reported_with_its_position(
    template_path: Path, tmp_path: Path, repo_modules: dict[str, ModuleInfo]
) -> None:
    text = template_path.read_text(encoding="utf-8")
    text = text.replace('"./model"', '"${MODEL_ROOT}/model"').replace('"tweets.jsonl"', '"$TWEETS_DIR/t.jsonl"')
    text = text.replace("${MODULES.tweetsource}", "${MODULES.nosuchmodule}")
    path = _template(template_path, tmp_path, text=text)
    with pytest.raises(ManifestCheckError) as caught:
        generate(GenerateOptions(path, "amd64", environ={}), repo_modules)
    lines = text.splitlines()
    found = {d.code: d for d in caught.value.diagnostics}
    assert set(found) >= {"unknown-variable", "unknown-module-placeholder"}
    unknown = [d for d in caught.value.diagnostics if d.code == "unknown-variable"]
    assert len(unknown) == 2
    for diagnostic, needle in zip(unknown, ("${MODEL_ROOT}", "$TWEETS_DIR"), strict=True):
        assert needle in diagnostic.message
        line = lines[diagnostic.position.line - 1]
        assert line[diagnostic.position.column - 1 :].startswith(needle)
        assert diagnostic.position.file == str(path)
    placeholder = found["unknown-module-placeholder"]
    assert "no module folder 'nosuchmodule'" in placeholder.message
    assert placeholder.path == (*AGENT_MODULES, "tweetsource", "settings", "image")


def test_iot_edge_dollar_words_and_route_conditions_are_kept(
    template_path: Path, tmp_path: Path, repo_modules: dict[str, ModuleInfo]
) -> None:
    route = "FROM /messages/modules/sentiment/outputs/output1 WHERE $body.label = 'NEGATIVE' INTO $upstream"

    def edit(document: dict[str, Any]) -> None:
        document["modulesContent"]["$edgeHub"]["properties.desired"]["routes"]["sentimentToUpstream"] = route

    generated = generate(GenerateOptions(_template(template_path, tmp_path, edit), "amd64", environ={}), repo_modules)
    assert (
        manifest_of(generated)["modulesContent"]["$edgeHub"]["properties.desired"]["routes"]["sentimentToUpstream"]
        == route
    )


def test_long_create_options_are_split_into_512_character_parts(
    template_path: Path, tmp_path: Path, repo_modules: dict[str, ModuleInfo]
) -> None:
    labels = {f"org.example.label{i:03d}": "x" * 40 for i in range(30)}

    def edit(document: dict[str, Any]) -> None:
        _modules(document)["sentiment"]["settings"]["createOptions"]["Labels"] = labels

    generated = generate(GenerateOptions(_template(template_path, tmp_path, edit), "amd64", environ={}), repo_modules)
    settings = _modules(generated.manifest)["sentiment"]["settings"]
    parts = [key for key in settings if key.startswith("createOptions")]
    assert parts[0] == "createOptions"
    assert parts[1] == "createOptions01"
    assert len(parts) >= 3
    assert all(len(settings[key]) <= 512 for key in parts)
    assert all(len(settings[key]) == 512 for key in parts[:-1])
    assert json.loads("".join(settings[key] for key in parts))["Labels"] == labels


def test_create_options_beyond_eight_parts_are_refused(
    template_path: Path, tmp_path: Path, repo_modules: dict[str, ModuleInfo]
) -> None:
    def edit(document: dict[str, Any]) -> None:
        _modules(document)["sentiment"]["settings"]["createOptions"]["Labels"] = {"big": "x" * 4200}

    path = _template(template_path, tmp_path, edit)
    with pytest.raises(ManifestCheckError) as caught:
        generate(GenerateOptions(path, "amd64", environ={}), repo_modules)
    [diagnostic] = caught.value.diagnostics
    assert diagnostic.code == "create-options-too-long"
    assert "at most 4096 fit in the twin" in diagnostic.message
    with pytest.raises(ManifestError, match="8 parts of 512"):
        split_create_options("x" * 4097, "m")
    assert len(split_create_options("x" * 4096, "m")) == 8


def test_unknown_platform_and_missing_template(template_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="unknown platform 'x86'"):
        generate(GenerateOptions(template_path, "x86", environ={}))
    with pytest.raises(ManifestError, match="cannot read template"):
        generate(GenerateOptions(tmp_path / "absent.json", "amd64", environ={}))
