"""Shared test settings: where built fixtures are cached, and the repository's folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def fixture_cache() -> Path:
    """A git-ignored folder for fixtures that are slow to build (trained models, converted graphs).

    Override with EDGESHIP_TEST_CACHE; the default lives in the checkout so CI's fresh clone
    builds each fixture once per run and a developer's reruns reuse it.
    """
    path = Path(os.environ.get("EDGESHIP_TEST_CACHE", REPO_ROOT / ".cache" / "test-fixtures"))
    path.mkdir(parents=True, exist_ok=True)
    return path
