"""`edgeship manifest` through a real subprocess: output files, exit codes, the stderr format."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _edgeship(repo_root: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeship", "manifest", *args],
        cwd=cwd or repo_root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_generate_then_validate(repo_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "deployment.arm32v7.json"
    result = _edgeship(
        repo_root, "generate", "--platform", "arm32v7", "--out", str(out), "--hub-name", "myhub", "--device-id", "dev1"
    )
    assert result.returncode == 0, result.stderr
    assert f"az iot edge set-modules --device-id dev1 --hub-name myhub --content {out}" in result.stdout
    manifest = json.loads(out.read_text(encoding="utf-8"))
    assert (
        manifest["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]["sentiment"]["settings"]["image"]
        == "localhost:5000/sentiment:0.1.0-arm32v7"
    )
    result = _edgeship(repo_root, "validate", str(out))
    assert result.returncode == 0, result.stderr
    assert "valid (0 warning(s))" in result.stdout


def test_validate_reports_every_error_with_position(repo_root: Path, tmp_path: Path) -> None:
    template = json.loads((repo_root / "tests" / "manifests" / "golden" / "deployment.amd64.json").read_text())
    agent: dict[str, Any] = template["modulesContent"]["$edgeAgent"]["properties.desired"]
    agent["modules"]["sentiment"]["restartPolicy"] = "sometimes"
    template["modulesContent"]["$edgeHub"]["properties.desired"]["routes"]["x"] = "FROM /messages/* INTO nowhere"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(template, indent=2), encoding="utf-8")
    result = _edgeship(repo_root, "validate", str(broken))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    pattern = re.compile(rf"^{re.escape(str(broken))}:\d+:\d+: error: modulesContent\.\S+: .+ \[[a-z-]+\]$")
    errors = [line for line in lines if ": error: " in line]
    assert len(errors) == 2
    assert all(pattern.match(line) for line in errors), errors
    assert lines[-1] == f"error: {broken}: 2 error(s), 0 warning(s)"
    result = _edgeship(repo_root, "validate", "--json", str(broken))
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert {d["code"] for d in report["diagnostics"]} == {"schema", "route-syntax"}


def test_invalid_json_and_missing_file(repo_root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "modulesContent": {,}\n}', encoding="utf-8")
    result = _edgeship(repo_root, "validate", str(bad))
    assert result.returncode == 1
    assert f"{bad}:2:22: error: invalid JSON: expected a property name in double quotes" in result.stderr
    result = _edgeship(repo_root, "validate", str(tmp_path / "absent.json"))
    assert result.returncode == 1
    assert "error: cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_generate_errors_point_into_the_template_and_write_nothing(repo_root: Path, tmp_path: Path) -> None:
    text = (repo_root / "manifests" / "deployment.template.json").read_text(encoding="utf-8")
    template = tmp_path / "deployment.template.json"
    template.write_text(text.replace('"./model"', '"${MODEL_ROOT}"'), encoding="utf-8")
    result = _edgeship(repo_root, "generate", "--template", str(template), "--modules-dir", str(repo_root / "modules"))
    assert result.returncode == 1
    assert re.search(
        rf"{re.escape(str(template))}:\d+:\d+: error: \S+\.MODEL_DIR\.value: unknown variable "
        r"\$\{MODEL_ROOT\}",
        result.stderr,
    ), result.stderr
    assert not (tmp_path / "deployment.amd64.json").exists()


def test_at_scale_document_and_command(repo_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "prod.json"
    result = _edgeship(
        repo_root,
        "generate",
        "--at-scale",
        "--target-condition",
        "tags.environment='prod'",
        "--priority",
        "10",
        "--layered",
        "--deployment-id",
        "sentiment-prod",
        "--out",
        str(out),
        "--hub-name",
        "myhub",
    )
    assert result.returncode == 0, result.stderr
    assert (
        "az iot edge deployment create --deployment-id sentiment-prod --hub-name myhub --content "
        f"{out} --target-condition 'tags.environment='\"'\"'prod'\"'\"'' --priority 10 --layered"
    ) in result.stdout
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["targetCondition"] == "tags.environment='prod'"
    assert document["priority"] == 10
    assert set(document["content"]["modulesContent"]["$edgeHub"]) == {
        "properties.desired.routes.tweetsToSentiment",
        "properties.desired.routes.sentimentToUpstream",
        "properties.desired.routes.sentimentErrorsToUpstream",
    }
    result = _edgeship(repo_root, "generate", "--at-scale", "--target-condition", "", "--out", str(out))
    assert result.returncode == 1
    assert "a target condition is required" in result.stderr
    # a condition `manifest compose` could not evaluate is refused here too, at its column
    result = _edgeship(
        repo_root, "generate", "--at-scale", "--target-condition", "tag.environment='prod'", "--out", str(out)
    )
    assert result.returncode == 1
    assert "column 1: tag.environment: a target condition reads tags.*" in result.stderr
