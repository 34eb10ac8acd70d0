"""The default template on every platform: golden files, our validation, the public schema, the simulator."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

import jsonschema
import pytest

from edgeship.manifest import PLATFORMS, GenerateOptions, ModuleInfo, Severity, generate
from edgesim.deployment import parse_deployment

GOLDEN = Path(__file__).parent / "golden"


def _public_schema(repo_root: Path) -> dict[str, Any]:
    path = repo_root.parent / "shared" / "reference" / "azure-iot-edge-deployment-2.0.json"
    if not path.is_file():
        pytest.skip(f"the public schema is not beside the repository ({path})")
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@pytest.mark.parametrize("platform", PLATFORMS)
def test_default_template_matches_golden(
    platform: str, template_path: Path, repo_modules: dict[str, ModuleInfo]
) -> None:
    generated = generate(GenerateOptions(template_path, platform, environ={}), repo_modules)
    text = json.dumps(generated.manifest, indent=2) + "\n"
    golden = GOLDEN / f"deployment.{platform}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), "run with UPDATE_GOLDEN=1 to accept the change"
    assert [d for d in generated.report.diagnostics if d.severity is not Severity.INFO] == []
    manifest: Any = generated.manifest
    agent = manifest["modulesContent"]["$edgeAgent"]["properties.desired"]
    assert agent["modules"]["sentiment"]["settings"]["image"] == f"localhost:5000/sentiment:0.1.0-{platform}"
    assert agent["modules"]["tweetsource"]["settings"]["image"] == f"localhost:5000/tweetsource:0.1.0-{platform}"
    assert "$schema-template" not in generated.manifest


@pytest.mark.parametrize("platform", PLATFORMS)
def test_generated_manifest_passes_the_public_schema(
    platform: str, repo_root: Path, template_path: Path, repo_modules: dict[str, ModuleInfo]
) -> None:
    schema = _public_schema(repo_root)
    manifest = generate(GenerateOptions(template_path, platform, environ={}), repo_modules).manifest
    errors = [e.message for e in jsonschema.Draft4Validator(schema).iter_errors(manifest)]
    assert errors == []


def test_public_schema_catches_a_broken_manifest(repo_root: Path, manifest: dict[str, Any]) -> None:
    schema = _public_schema(repo_root)  # the yardstick itself is not vacuous
    manifest["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]["sentiment"]["status"] = "paused"
    assert list(jsonschema.Draft4Validator(schema).iter_errors(manifest))


def test_the_simulator_reads_the_default_manifest(default_manifest: dict[str, Any]) -> None:
    deployment = parse_deployment(default_manifest)
    assert deployment.module_names == ("sentiment", "tweetsource")
    assert deployment.store_ttl_secs == 7200
    assert cast(Any, deployment.desired)["sentiment"]["thresholds"] == {"negative": 0.4, "positive": 0.7}
    sentiment = deployment.module("sentiment")
    assert cast(Any, sentiment.create_options)["HostConfig"]["PortBindings"] == {"5001/tcp": [{"HostPort": "5001"}]}
    assert set(deployment.routes) == {"tweetsToSentiment", "sentimentToUpstream", "sentimentErrorsToUpstream"}
