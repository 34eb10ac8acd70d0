"""Fixtures for the hub tests (helpers live in hubkit.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubkit import Peer


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    started: list[Peer] = []
    yield started
    for peer in started:
        peer.close()
