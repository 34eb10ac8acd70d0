"""The conformance corpus: ``../shared/conformance`` beside the repository (EDGESHIP_CONFORMANCE overrides)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def corpus_dir() -> Path:
    override = os.environ.get("EDGESHIP_CONFORMANCE")
    return Path(override) if override else REPO.parent / "shared" / "conformance"


def load(relative: str) -> Any:
    path = corpus_dir() / relative
    if not path.is_file():
        pytest.skip(f"conformance corpus not found: {path} (set EDGESHIP_CONFORMANCE to its folder)")
    return json.loads(path.read_text(encoding="utf-8"))


def load_or_empty(relative: str, key: str) -> list[Any]:
    """The cases at ``key`` (dotted), read at collection time; [] when the corpus is absent."""
    path = corpus_dir() / relative
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    value = data
    for part in filter(None, key.split(".")):
        value = value[part]
    return list(value)


def params(cases: list[Any]) -> list[Any]:
    """For parametrize: the cases, or one skipped stand-in that says why when the corpus is absent."""
    if cases:
        return cases
    reason = f"conformance corpus not found at {corpus_dir()} (set EDGESHIP_CONFORMANCE to its folder)"
    return [pytest.param(None, id="corpus-absent", marks=pytest.mark.skip(reason=reason))]
