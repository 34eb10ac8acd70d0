"""Shared fixtures for the module's faces: one service over the small packaged model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeship_sentiment.batcher import BatchSettings
from edgeship_sentiment.service import SentimentService


@pytest.fixture
def service(packaged_model_dir: Path, tmp_path: Path) -> Iterator[SentimentService]:
    svc = SentimentService(
        packaged_model_dir, batch=BatchSettings(max_batch=16, max_batch_delay_ms=5), capture_dir=tmp_path / "capture"
    )
    yield svc
    svc.close()
