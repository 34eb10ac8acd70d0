"""Fixtures for the hub tests (helpers live in tests.support.hub)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.hub import Peer


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    started: list[Peer] = []
    yield started
    for peer in started:
        peer.close()
