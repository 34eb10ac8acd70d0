"""The exact padding skip: the module's scores over real tokens only equal the full 300-step model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeship_sentiment.model import load_model_folder
from edgeship_sentiment.padskip import window
from edgeship_sentiment.scorer import Scorer

pytestmark = pytest.mark.slow  # needs the trained fixture (cached after the first run)


@pytest.fixture(scope="module")
def skipping(packaged_model_dir: Path) -> Scorer:
    return Scorer(load_model_folder(packaged_model_dir))


@pytest.fixture(scope="module")
def full(packaged_model_dir: Path) -> Scorer:
    return Scorer(load_model_folder(packaged_model_dir), padding_skip=False)


def heldout_texts(small_model_dir: Path) -> list[str]:
    return [json.loads(line)["text"] for line in (small_model_dir / "heldout.jsonl").read_text().splitlines()]


def test_direct_graph_gets_the_skip(skipping: Scorer, full: Scorer) -> None:
    assert skipping.padding_skip is not None
    assert full.padding_skip is None
    states = skipping.padding_skip.states
    assert states.sequence_length == 300
    h0, c0 = states.state(0)
    assert h0.shape == (100,)
    assert c0 is not None
    assert not h0.any()
    assert not c0.any()
    h300, _ = states.state(300)
    # The pad state converges (the same input every step) but is not trivially zero.
    assert np.abs(h300).max() > 1e-3


def test_pad_states_equal_carrying_the_state_one_step_at_a_time(skipping: Scorer) -> None:
    """Each state is one run over k pad tokens; carrying final_* back into initial_* must agree."""
    assert skipping.padding_skip is not None
    states = skipping.padding_skip.states
    h: Any = np.zeros((1, 1, 100), np.float32)  # what session.run returns: arrays of any dtype
    c: Any = np.zeros((1, 1, 100), np.float32)
    pad = np.zeros((1, 1), dtype=np.int64)
    for k in range(1, 301):
        h, c = skipping.session.run(["final_h", "final_c"], {"input_ids": pad, "initial_h": h, "initial_c": c})
        if k in (1, 2, 17, 150, 299, 300):
            want_h, want_c = states.state(k)
            np.testing.assert_allclose(h.reshape(-1), want_h, atol=1e-6)
            np.testing.assert_allclose(c.reshape(-1), want_c, atol=1e-6)  # type: ignore[arg-type]


def test_pad_states_are_computed_once_per_length(packaged_model_dir: Path) -> None:
    fresh = Scorer(load_model_folder(packaged_model_dir))
    assert fresh.padding_skip is not None
    states = fresh.padding_skip.states
    runs: list[int] = []
    real_run = states.session.run

    class CountingSession:
        def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            runs.append(feeds["input_ids"].shape[1])
            return list(real_run(outputs, feeds))

    states.session = CountingSession()  # type: ignore[assignment]  # counts the runs of the real session
    try:
        before = states.state(123)[0].copy()
        again = states.state(123)[0]
        fresh.raw_scores(["good day"])  # a two-token window: 298 pad steps, computed on first use
        fresh.raw_scores(["bad day"])
    finally:
        states.session = fresh.session
    assert runs == [123, 298]  # each length once, nothing computed at start
    np.testing.assert_array_equal(before, again)


def test_heldout_scores_equal_full_model_one_at_a_time_and_batched(
    skipping: Scorer, full: Scorer, small_model_dir: Path
) -> None:
    texts = heldout_texts(small_model_dir)
    reference = full.raw_scores(texts)
    one_by_one = np.array([skipping.raw_scores([t])[0] for t in texts])
    batched = np.concatenate([skipping.raw_scores(texts[i : i + 64]) for i in range(0, len(texts), 64)])
    assert len(texts) > 100
    assert np.abs(one_by_one - reference).max() <= 1e-5
    assert np.abs(batched - reference).max() <= 1e-5
    labels_full = [r["label"] for r in full.score_batch(texts)]
    labels_skip = [r["label"] for r in skipping.score_batch(texts)]
    assert labels_skip == labels_full


def test_edge_cases_empty_unknown_long_and_mixed(skipping: Scorer, full: Scorer) -> None:
    known = sorted(skipping.model.tokenizer.word_index, key=skipping.model.tokenizer.word_index.__getitem__)[:50]
    long_text = " ".join(known * 9)  # 450 tokens: truncated to the last 300, no skip at all
    texts = ["", "zzqx qqzv", "good", long_text, "what a great day " * 3, "!!! ..."]
    for text in texts:
        np.testing.assert_allclose(skipping.raw_scores([text]), full.raw_scores([text]), atol=1e-5)
    np.testing.assert_allclose(skipping.raw_scores(texts), full.raw_scores(texts), atol=1e-5)
    # An empty text is the model's answer to 300 pad tokens, not a zero state.
    assert skipping.raw_scores([""])[0] == pytest.approx(float(full.raw_scores([""])[0]), abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(lengths=st.lists(st.integers(min_value=0, max_value=320), min_size=1, max_size=6), seed=st.integers(0, 2**16))
def test_random_token_batches_equal_full_model(skipping: Scorer, full: Scorer, lengths: list[int], seed: int) -> None:
    words = list(skipping.model.tokenizer.word_index)
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(words, size=n)) if n else "" for n in lengths]
    np.testing.assert_allclose(skipping.raw_scores(texts), full.raw_scores(texts), atol=1e-5)


def test_window_pads_to_the_longest_row_only() -> None:
    ids, skipped = window([[5, 6], [], [7, 8, 9]], 300, truncating="pre", pad_value=0, dtype=np.dtype(np.int64))
    assert skipped == 297
    assert ids.tolist() == [[0, 5, 6], [0, 0, 0], [7, 8, 9]]
    ids, skipped = window([[]], 300, truncating="pre", pad_value=0, dtype=np.dtype(np.int64))
    assert (ids.tolist(), skipped) == ([[0]], 299)
    ids, skipped = window([list(range(1, 11))], 4, truncating="post", pad_value=0, dtype=np.dtype(np.int64))
    assert (ids.tolist(), skipped) == ([[1, 2, 3, 4]], 0)


def test_graph_without_state_outputs_falls_back_to_full_sequence(
    packaged_model_dir: Path, tmp_path: Path, full: Scorer
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(packaged_model_dir, folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["lstm"]["final_h"] = meta["lstm"]["final_c"] = None  # as written by an older packager
    (folder / "model.json").write_text(json.dumps(meta))
    scorer = Scorer(load_model_folder(folder))
    assert scorer.padding_skip is None
    assert scorer.raw_scores(["good day"])[0] == pytest.approx(float(full.raw_scores(["good day"])[0]), abs=1e-7)


def test_large_batches_run_sorted_buckets_in_the_callers_order(
    skipping: Scorer, full: Scorer, small_model_dir: Path
) -> None:
    assert skipping.padding_skip is not None
    texts = heldout_texts(small_model_dir)[:100]
    sequences = skipping.token_ids(texts)
    runs = list(skipping.padding_skip.runs(sequences, bucket_rows=16))
    assert sorted(row for rows, _ in runs for row in rows) == list(range(100))
    assert len(runs) == 7
    widths = [feeds["input_ids"].shape[1] for _, feeds in runs]
    assert widths == sorted(widths)  # short texts together, each run only as wide as its longest
    assert widths[0] < max(len(s) for s in sequences)
    np.testing.assert_allclose(skipping.raw_scores(texts), full.raw_scores(texts), atol=1e-5)
