"""edgeship.project: finding the checkout and writing its local manifest (packaging: tests/tools/services, demo)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgeship.errors import EdgeshipError
from edgeship.project import REPO_MARKERS, find_project, sentiment_model_dir, write_local_manifest


def test_find_project_from_inside_the_checkout(repo_root: Path) -> None:
    assert find_project(repo_root / "modules" / "sentiment" / "edgeship_sentiment") == repo_root
    assert find_project(repo_root) == repo_root


def test_find_project_takes_the_first_start_that_is_in_a_checkout(repo_root: Path, tmp_path: Path) -> None:
    assert find_project(tmp_path, repo_root / "tools") == repo_root
    with pytest.raises(EdgeshipError, match="inside an edgeship checkout"):
        find_project(tmp_path)


def test_sentiment_model_dir(tmp_path: Path) -> None:
    assert sentiment_model_dir(tmp_path) == tmp_path / "modules" / "sentiment" / "model"


def test_write_local_manifest_binds_the_http_face(repo_root: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    for folder in ("modules", "manifests"):
        shutil.copytree(
            repo_root / folder, project / folder, ignore=shutil.ignore_patterns("model", "*.amd64.json", "__pycache__")
        )
    assert all((project / marker).is_file() for marker in REPO_MARKERS)
    out = tmp_path / "deployment.amd64.json"
    generated = write_local_manifest(project, out, "127.0.0.1:5123")
    written = json.loads(out.read_text())
    assert written == generated.manifest
    modules = written["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]
    assert modules["sentiment"]["env"]["HTTP_BIND"] == {"value": "127.0.0.1:5123"}
    assert not generated.report.errors
