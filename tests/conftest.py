"""Shared fixtures: where built fixtures are cached, the repository's folders, the SDK peers a test starts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.hub import Peer

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    """SDK peers a test starts (``tests.support.hub.Peer``): each is closed when the test ends."""
    started: list[Peer] = []
    yield started
    for peer in started:
        peer.close()


@pytest.fixture(scope="session")
def fixture_cache() -> Path:
    """A git-ignored folder for fixtures that are slow to build (trained models, converted graphs).

    Override with EDGESHIP_TEST_CACHE; the default lives in the checkout so CI's fresh clone
    builds each fixture once per run and a developer's reruns reuse it.
    """
    path = Path(os.environ.get("EDGESHIP_TEST_CACHE", REPO_ROOT / ".cache" / "test-fixtures"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _code_digest(folder: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "tools" / "edgeship" / folder).glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _fixture_code_digest() -> str:
    return _code_digest("fixture")


@pytest.fixture(scope="session")
def small_model_dir(fixture_cache: Path) -> Path:
    """The seed-format reference model, small variant, trained once per fixture-code version.

    Trains with TensorFlow (about 60 s) the first time; later runs and other test processes reuse
    it. A file lock keeps parallel pytest processes from training it twice.
    """
    import fcntl

    from edgeship.fixture import FixtureSpec, build_fixture

    target = fixture_cache / f"sentiment-small-{_fixture_code_digest()}"
    with (fixture_cache / "sentiment-small.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "fixture.json").is_file():
            build_fixture(target, FixtureSpec.for_size("small"), fixture_cache / "data", progress=False)
    return target


@pytest.fixture(scope="session")
def packaged_model_dir(small_model_dir: Path, fixture_cache: Path) -> Path:
    """The small reference model packaged by the direct converter (fp32), built once and cached."""
    import fcntl

    from edgeship.packager import ModelSource, PackageOptions, package_model

    # Keyed by the packager's code too: a graph from an older converter must not be reused.
    target = small_model_dir.parent / f"{small_model_dir.name}-packaged-{_code_digest('packager')}"
    with (fixture_cache / "sentiment-small.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "model.json").is_file():
            files = {p.name: p for p in small_model_dir.iterdir() if p.is_file()}
            package_model(ModelSource(files, "sentiment", 1, "0" * 64), target, PackageOptions(converter="direct"))
    return target
