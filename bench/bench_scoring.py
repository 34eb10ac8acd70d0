"""Scoring benchmark: the seed's score.py path (Keras tokenize, pad, model.predict) against the
module core (pure-Python tokenizer + onnxruntime) on real tweets, in the same process and run.

    python -m bench.bench_scoring FIXTURE_DIR PACKAGED_FP32 [PACKAGED_INT8] [--n 200] [--repeat 3] [--json OUT]

FIXTURE_DIR holds the seed's files (model.h5, tokenizer.pkl, heldout.jsonl); PACKAGED_* what
`edgeship package` wrote (fp32, and with --quantize int8). Rows: the seed's path at batch 1; the
module core at batch 1 over the full 300-step sequence (what it ran before the padding skip),
with the padding skip (fp32, int8), with micro-batching under 16 concurrent clients, and in
batches of 256 with one and two onnxruntime threads. Labels are compared with the seed's on every
text. Batch-1 rows give p50 / p99 over all texts; throughput rows give the median of --repeat
rounds with their min - max.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed_each(fn: Callable[[str], float], texts: list[str]) -> tuple[list[float], list[float]]:
    latencies, scores = [], []
    for text in texts:
        started = time.perf_counter()
        scores.append(fn(text))
        latencies.append(time.perf_counter() - started)
    return latencies, scores


def rounds(fn: Callable[[], None], count: int, repeat: int) -> list[float]:
    """Throughput (texts/s) of ``repeat`` rounds of ``fn``, which scores ``count`` texts."""
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(count / (time.perf_counter() - started))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("fixture_dir", type=Path)
    parser.add_argument("packaged_dir", type=Path)
    parser.add_argument("int8_dir", type=Path, nargs="?")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
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
    folder = load_model_folder(args.packaged_dir)
    full = Scorer(folder, padding_skip=False)
    skip = Scorer(folder)
    skip_two_threads = Scorer(folder, intra_op_threads=2)
    int8 = Scorer(load_model_folder(args.int8_dir)) if args.int8_dir else None
    assert skip.padding_skip is not None, "the packaged graph has no state inputs (package with the direct converter)"
    labels, settings = Labels(), ScoringSettings()

    def seed_predict(text: str) -> float:
        x = pad_sequences(tokenizer.texts_to_sequences([text]), maxlen=300)
        return float(model.predict([x], verbose=0)[0][0])

    def core(scorer: Scorer) -> Callable[[str], float]:
        return lambda text: float(scorer.score(text)["score"])

    for fn in (seed_predict, core(full), core(skip), *([core(int8)] if int8 else [])):
        fn(texts[0])  # warm every path once
    latency_rows: list[tuple[str, list[float], list[float]]] = []
    for label, fn in (
        ("seed path: Keras model.predict, batch 1", seed_predict),
        ("module core, full 300-step sequence, batch 1", core(full)),
        ("module core, padding skip, fp32, batch 1", core(skip)),
        *([("module core, padding skip, int8, batch 1", core(int8))] if int8 else []),
    ):
        latencies, scores = timed_each(fn, texts)
        latency_rows.append((label, latencies, scores))

    seed_scores = latency_rows[0][2]

    def agreement(scores: list[float]) -> int:
        return sum(
            decode_label(a, settings, labels) == decode_label(b, settings, labels)
            for a, b in zip(seed_scores, scores, strict=True)
        )

    throughput_rows: list[tuple[str, list[float], list[float] | None]] = []
    batcher = MicroBatcher(skip, BatchSettings(max_batch=32, max_batch_delay_ms=2)).start()
    micro_latencies: list[float] = []
    lock = threading.Lock()

    def micro_round() -> None:
        def client(chunk: list[str]) -> None:
            for text in chunk:
                started = time.perf_counter()
                batcher.score(text)
                with lock:
                    micro_latencies.append(time.perf_counter() - started)

        threads = [threading.Thread(target=client, args=(texts[i::16],)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    throughput_rows.append(
        (
            "padding skip fp32, micro-batching, 16 concurrent clients",
            rounds(micro_round, len(texts), args.repeat),
            micro_latencies,
        )
    )
    batcher.close()

    def batched(scorer: Scorer, size: int) -> Callable[[], None]:
        def run() -> None:
            for i in range(0, len(texts), size):
                scorer.score_batch(texts[i : i + size])

        return run

    throughput_rows.append(
        ("full sequence fp32, batches of 256", rounds(batched(full, 256), len(texts), args.repeat), None)
    )
    throughput_rows.append(
        ("padding skip fp32, batches of 256", rounds(batched(skip, 256), len(texts), args.repeat), None)
    )
    throughput_rows.append(
        (
            "padding skip fp32, batches of 256, 2 onnxruntime threads",
            rounds(batched(skip_two_threads, 256), len(texts), args.repeat),
            None,
        )
    )
    if int8:
        throughput_rows.append(
            ("padding skip int8, batches of 256", rounds(batched(int8, 256), len(texts), args.repeat), None)
        )

    words = statistics.mean(len(t.split()) for t in texts)
    tokens = statistics.mean(len(s) for s in skip.token_ids(texts))
    print(
        f"{len(texts)} held-out tweets, mean {words:.1f} words, {tokens:.1f} known tokens; "
        f"labels agreeing with the seed's path per row\n"
    )
    print("| path (batch 1) | p50 ms | p99 ms | texts/s | labels = seed | max \\|diff\\| vs seed | vs seed (p50) |")
    print("|---|---|---|---|---|---|---|")
    seed_p50 = percentile(latency_rows[0][1], 0.5)
    results: dict[str, Any] = {
        "texts": len(texts),
        "mean_words": words,
        "mean_tokens": tokens,
        "latency": {},
        "throughput": {},
    }
    for label, latencies, scores in latency_rows:
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        diff = max(abs(a - b) for a, b in zip(seed_scores, scores, strict=True))
        print(
            f"| {label} | {p50 * 1000:.3f} | {p99 * 1000:.3f} | {len(texts) / sum(latencies):,.0f} | "
            f"{agreement(scores)}/{len(texts)} | {diff:.1e} | {seed_p50 / p50:,.0f}x |"
        )
        results["latency"][label] = {
            "p50_ms": p50 * 1000,
            "p99_ms": p99 * 1000,
            "agree": agreement(scores),
            "max_diff": diff,
            "speedup_p50": seed_p50 / p50,
        }
    seed_rate = len(texts) / sum(latency_rows[0][1])
    print(f"\n| throughput ({args.repeat} rounds) | texts/s median | min - max | p50 / p99 ms per text | vs seed |")
    print("|---|---|---|---|---|")
    for label, rates, per_text in throughput_rows:
        extra = f"{percentile(per_text, 0.5) * 1000:.2f} / {percentile(per_text, 0.99) * 1000:.2f}" if per_text else ""
        median = statistics.median(rates)
        print(
            f"| {label} | {median:,.0f} | {min(rates):,.0f} - {max(rates):,.0f} | {extra} | "
            f"{median / seed_rate:,.0f}x |"
        )
        results["throughput"][label] = {
            "median": median,
            "min": min(rates),
            "max": max(rates),
            "vs_seed": median / seed_rate,
        }
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
