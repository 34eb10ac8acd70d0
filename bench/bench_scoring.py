"""Scoring benchmark: the seed's score.py path (Keras tokenize, pad, model.predict) against the
module core (pure-Python tokenizer + onnxruntime) at batch 1, with micro-batching, and batched,
on real tweets, in the same process and run.

    python bench/bench_scoring.py FIXTURE_DIR PACKAGED_DIR [--n 200]

FIXTURE_DIR holds the seed's files (model.h5, tokenizer.pkl, heldout.jsonl); PACKAGED_DIR what
`edgeship package` wrote. Labels of both paths are compared on every text.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import threading
import time
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("fixture_dir", type=Path)
    parser.add_argument("packaged_dir", type=Path)
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in (args.fixture_dir / "heldout.jsonl").read_text().splitlines()]
    texts = (texts * (1 + args.n // len(texts)))[: args.n]

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras
    from tf_keras.preprocessing.sequence import pad_sequences

    from edgeship_sentiment.batcher import BatchSettings, MicroBatcher
    from edgeship_sentiment.model import load_model_folder
    from edgeship_sentiment.scorer import Labels, Scorer, ScoringSettings, decode_label

    model = tf_keras.models.load_model(args.fixture_dir / "model.h5", compile=False)
    with (args.fixture_dir / "tokenizer.pkl").open("rb") as handle:
        tokenizer = pickle.load(handle)  # the benchmark's own fixture, trusted here (the product never does this)
    scorer = Scorer(load_model_folder(args.packaged_dir))
    labels, settings = Labels(), ScoringSettings()

    def seed_predict(text: str) -> float:
        x = pad_sequences(tokenizer.texts_to_sequences([text]), maxlen=300)
        return float(model.predict([x], verbose=0)[0][0])

    seed_predict(texts[0])
    scorer.score(texts[0])  # warm both
    rows = []

    seed_latencies, seed_scores = [], []
    for text in texts:
        started = time.perf_counter()
        seed_scores.append(seed_predict(text))
        seed_latencies.append(time.perf_counter() - started)
    rows.append(("seed path (Keras predict), batch 1", seed_latencies, len(texts) / sum(seed_latencies)))

    core_latencies, core_scores = [], []
    for text in texts:
        started = time.perf_counter()
        core_scores.append(scorer.score(text)["score"])
        core_latencies.append(time.perf_counter() - started)
    rows.append(("module core, batch 1", core_latencies, len(texts) / sum(core_latencies)))

    batcher = MicroBatcher(scorer, BatchSettings(max_batch=32, max_batch_delay_ms=2)).start()
    micro_latencies: list[float] = []
    lock = threading.Lock()

    def client(chunk: list[str]) -> None:
        for text in chunk:
            started = time.perf_counter()
            batcher.score(text)
            with lock:
                micro_latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(texts[i::16],)) for i in range(16)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    micro_seconds = time.perf_counter() - started
    batcher.close()
    rows.append(("module core, micro-batching (16 concurrent clients)", micro_latencies, len(texts) / micro_seconds))

    started = time.perf_counter()
    for i in range(0, len(texts), 256):
        scorer.score_batch(texts[i:i + 256])
    batch_seconds = time.perf_counter() - started
    rows.append(("module core, batches of 256", [batch_seconds / len(texts)], len(texts) / batch_seconds))

    agree = sum(decode_label(a, settings, labels) == decode_label(b, settings, labels)
                for a, b in zip(seed_scores, core_scores, strict=True))
    max_diff = max(abs(a - b) for a, b in zip(seed_scores, core_scores, strict=True))
    print(f"{len(texts)} tweets, mean {statistics.mean(len(t.split()) for t in texts):.1f} words; "
          f"labels identical {agree}/{len(texts)}, max |score diff| {max_diff:.1e}")
    print("| path | p50 ms | p99 ms | texts/s | speed-up vs seed (p50) |")
    print("|---|---|---|---|---|")
    seed_p50 = percentile(rows[0][1], 0.5)
    for label, latencies, throughput in rows:
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(f"| {label} | {p50 * 1000:.3f} | {p99 * 1000:.3f} | {throughput:,.0f} | {seed_p50 / p50:,.0f}x |")


if __name__ == "__main__":
    main()
