"""The pytest side of ``edgesim.testing``: the ``edgesim_factory`` fixture.

Registered with pytest's ``pytest11`` entry point (``pyproject.toml``), so installing edgeship
makes the fixture available to every test session. It lives apart from the harness so that
``edgesim.testing`` imports without pytest: ``edgeship demo`` drives the harness on a plain
``pip install "edgeship[convert]"``, which has no pytest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgesim.testing import SimulatorHarness, run_simulator_config


@pytest.fixture
def edgesim_factory(tmp_path: Path) -> Iterator[Callable[..., SimulatorHarness]]:
    """Start simulators inside a test: ``edgesim_factory(manifest, host=..., modules_dir=...)``.

    Each gets its own state directory under ``tmp_path`` unless ``state_dir`` is given; all are
    stopped, with their modules, when the test ends.
    """
    started: list[SimulatorHarness] = []

    def factory(manifest: str | Path, **options: Any) -> SimulatorHarness:
        options.setdefault("state_dir", tmp_path / f"edgesim-{len(started)}")
        harness = SimulatorHarness(run_simulator_config(manifest, **options)).start()
        started.append(harness)
        return harness

    yield factory
    for harness in reversed(started):
        harness.stop()
