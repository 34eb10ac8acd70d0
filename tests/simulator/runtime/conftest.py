"""Fixtures of the simulator runtime tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.loop import LoopThread


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()
