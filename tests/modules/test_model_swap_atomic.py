"""A swap lands between two batches: every request is scored by one engine, and its reply names it.

Two engines that score differently: the packaged fixture (fp32, ``sentiment:1``) and the same
graph quantized to int8 here by onnxruntime (``sentiment:2``; its parity sample rescored by the
packager's own function). fp32 scores do not depend on the batch, so a reply naming v1 must hold
exactly v1's scores; a reply naming v2 scored by v1 would hold exactly v1's scores too, which
int8 does not give (it differs from fp32 on every heldout text, by 6e-5 to 3e-2).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import pytest

from edgeship_sentiment.model import load_model_folder
from edgeship_sentiment.scorer import Engine
from edgeship_sentiment.service import Reply, SentimentService
from tests.support.model_update import int8_copy

pytestmark = pytest.mark.slow  # the packaged fixture (TensorFlow builds it once)
REQUESTS = 400
PER_REQUEST = 5


def test_every_request_is_scored_by_the_one_engine_its_reply_names(
    service: SentimentService, packaged_model_dir: Path, small_model_dir: Path, tmp_path: Path
) -> None:
    assert service.scorer is not None
    v1 = service.scorer.engine
    v2 = Engine.load(load_model_folder(int8_copy(packaged_model_dir, tmp_path / "int8")))
    assert (v1.version, v2.version) == ("sentiment:1", "sentiment:2")
    heldout = [json.loads(line)["text"] for line in (small_model_dir / "heldout.jsonl").read_text().splitlines()]
    requests = [[heldout[(i * PER_REQUEST + j) % len(heldout)] for j in range(PER_REQUEST)] for i in range(REQUESTS)]
    alone = {text: float(v1.raw_scores([text])[0]) for text in heldout}

    done = threading.Event()
    swaps = [0]

    def swapper() -> None:
        engines = [v2, v1]
        while not done.is_set():
            service.scorer.swap(engines[swaps[0] % 2])  # type: ignore[union-attr]
            swaps[0] += 1
            done.wait(0.002)  # a swap every few batches, not a synchronisation

    thread = threading.Thread(target=swapper)
    thread.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            replies: list[Reply] = list(
                pool.map(lambda texts: service.handle(json.dumps({"texts": texts}), "test"), requests)
            )
    finally:
        done.set()
        thread.join(10)
    assert swaps[0] > 20
    named = {"sentiment:1": 0, "sentiment:2": 0}
    for texts, reply in zip(requests, replies, strict=True):
        assert reply.status == 200, reply.payload
        assert reply.model in named
        named[reply.model] += 1
        scores = [item["score"] for item in cast(Any, reply.payload)]
        as_v1 = [alone[text] for text in texts]
        if reply.model == "sentiment:1":
            assert scores == pytest.approx(as_v1, abs=1e-6)
        else:
            assert scores != pytest.approx(as_v1, abs=1e-6)
    assert min(named.values()) > 20, named
