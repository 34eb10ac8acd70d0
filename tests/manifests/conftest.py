"""Fixtures of the manifest tests: the repository's modules, the default template, a valid manifest."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgeship.manifest import GenerateOptions, ModuleInfo, discover_modules, generate


@pytest.fixture(scope="session")
def repo_modules(repo_root: Path) -> dict[str, ModuleInfo]:
    return discover_modules(repo_root / "modules")


@pytest.fixture(scope="session")
def template_path(repo_root: Path) -> Path:
    return repo_root / "manifests" / "deployment.template.json"


@pytest.fixture(scope="session")
def default_manifest(template_path: Path, repo_modules: dict[str, ModuleInfo]) -> dict[str, Any]:
    """The default template generated for amd64 with no .env and an empty environment."""
    return generate(GenerateOptions(template_path, "amd64", environ={}), repo_modules).manifest


@pytest.fixture
def manifest(default_manifest: dict[str, Any]) -> dict[str, Any]:
    """A fresh copy to break."""
    return copy.deepcopy(default_manifest)


@pytest.fixture
def write_manifest(tmp_path: Path) -> Callable[[dict[str, Any]], tuple[Path, str]]:
    def write(document: dict[str, Any]) -> tuple[Path, str]:
        path = tmp_path / "deployment.json"
        text = json.dumps(document, indent=2)
        path.write_text(text, encoding="utf-8")
        return path, text

    return write
