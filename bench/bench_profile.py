"""Where the module's scoring time goes, and what folding the embedding would buy.

    python -m bench.bench_profile PACKAGED_FP32 TWEETS_JSONL [--repeat 30] [--json OUT]

1. The parts of one batch-1 score (tokenize, build the window, onnxruntime run, decode).
2. onnxruntime's LSTM op alone on the model's shapes (hidden 100) at batch 1, 16 (a bucket) and
   256, with the real input size (300, the embedding) against an input size of 8, which is what
   is left when the input projection costs nothing: the share of the op spent on ``W x``, the
   most that folding the embedding into the input projection (a per-word table of ``W x + b``)
   could save.
3. That folded recurrence written with numpy (gather the table row, ``R h``, gates), against the
   LSTM op on the same batches: the folded form needs a kernel that takes the projected input,
   which the ONNX LSTM op does not; per-step numpy calls cost more than they save.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def lstm_session(input_size: int, hidden: int) -> Any:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.1, (1, 4 * hidden, input_size)).astype(np.float32), "W")
    r = numpy_helper.from_array(rng.normal(0, 0.1, (1, 4 * hidden, hidden)).astype(np.float32), "R")
    node = helper.make_node("LSTM", ["X", "W", "R"], ["", "Y_h"], hidden_size=hidden)
    graph = helper.make_graph(
        [node],
        "lstm",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", input_size])],
        [helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, "B", hidden])],
        [w, r],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("packaged_dir", type=Path)
    parser.add_argument("tweets", type=Path)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import onnx
    from onnx import numpy_helper

    from edgeship_sentiment.model import load_model_folder
    from edgeship_sentiment.scorer import Scorer, decode_label

    texts = [json.loads(line)["text"] for line in args.tweets.read_text(encoding="utf-8").splitlines()]
    scorer = Scorer(load_model_folder(args.packaged_dir))
    skip = scorer.padding_skip
    assert skip is not None, "package with the direct converter"
    spec = scorer.model.spec
    sequences = scorer.token_ids(texts)
    results: dict[str, Any] = {}

    sample = texts[: min(200, len(texts))]
    parts = {
        "tokenize": lambda: [scorer.token_ids([t]) for t in sample],
        "window + pad state": lambda: [skip.feeds(s) for s in ([q] for q in sequences[: len(sample)])],
        "onnxruntime run": lambda: [
            scorer.session.run([spec.output_name], skip.feeds([q])) for q in sequences[: len(sample)]
        ],
        "whole score()": lambda: [scorer.score(t) for t in sample],
    }
    timings = {name: best_of(fn, max(3, args.repeat // 10)) / len(sample) * 1e6 for name, fn in parts.items()}
    timings["onnxruntime run"] -= timings["window + pad state"]
    print(f"1. one tweet at batch 1 ({len(sample)} held-out tweets, median of rounds), microseconds\n")
    print("| part | us per tweet | share of score() |")
    print("|---|---|---|")
    for name, micros in timings.items():
        print(f"| {name} | {micros:.1f} | {micros / timings['whole score()']:.0%} |")
    results["batch1_us"] = timings

    hidden = int(spec.lstm_hidden_size or 100)
    full_input, small_input = 300, 8
    sessions = {size: lstm_session(size, hidden) for size in (full_input, small_input)}
    lengths = sorted(len(s) for s in sequences)
    print("\n2. onnxruntime's LSTM op alone, hidden 100, milliseconds per call\n")
    print("| batch x steps | input 300 | input 8 | share of W x |")
    print("|---|---|---|---|")
    op_rows = {}
    for batch, steps in ((1, int(np.median(lengths))), (16, int(np.median(lengths)) + 2), (256, lengths[-1])):
        times = {}
        for size, session in sessions.items():
            x = np.random.default_rng(1).random((steps, batch, size), dtype=np.float32)
            times[size] = best_of(functools.partial(session.run, None, {"X": x}), args.repeat)
        share = 1 - times[small_input] / times[full_input]
        print(f"| {batch} x {steps} | {times[full_input] * 1e3:.3f} | {times[small_input] * 1e3:.3f} | {share:.0%} |")
        op_rows[f"{batch}x{steps}"] = {
            "input_300_ms": times[full_input] * 1e3,
            "input_8_ms": times[small_input] * 1e3,
            "projection_share": share,
        }
    results["lstm_op"] = op_rows

    graph = onnx.load(str(scorer.model.onnx_path))
    weights = {i.name: numpy_helper.to_array(i) for i in graph.graph.initializer}
    if "W" in weights and "embedding.weight" in weights:
        w, r, b = weights["W"][0], weights["R"][0], weights["B"][0]
        table = (weights["embedding.weight"] @ w.T + b[: 4 * hidden] + b[4 * hidden :]).astype(np.float32)
        r_t = np.ascontiguousarray(r.T)
        dense_w, dense_b = weights["dense.weight"], weights["dense.bias"]
        states = skip.states

        def sigmoid(x: Any) -> Any:
            return 0.5 * (np.tanh(0.5 * x) + 1.0)

        def folded(batch: list[list[int]]) -> Any:
            ids = skip.feeds(batch)[spec.input_name]
            width = ids.shape[1]
            h0, c0 = states.state(spec.sequence_length - width)
            h = np.repeat(h0[None], len(batch), 0)
            c = np.repeat(c0[None], len(batch), 0)  # type: ignore[index]
            projected = table[ids]
            for t in range(width):
                g = projected[:, t] + h @ r_t  # ONNX gate order: i, o, f, c
                c = sigmoid(g[:, 2 * hidden : 3 * hidden]) * c + sigmoid(g[:, :hidden]) * np.tanh(g[:, 3 * hidden :])
                h = sigmoid(g[:, hidden : 2 * hidden]) * np.tanh(c)
            return sigmoid(h @ dense_w + dense_b)[:, -1]

        check = sequences[:64]
        got = np.concatenate([folded(check[i : i + 16]) for i in range(0, len(check), 16)])
        want = skip.scores(scorer.session, spec.output_name, check)
        labels_equal = all(
            decode_label(float(a), scorer.settings, scorer.labels)
            == decode_label(float(b), scorer.settings, scorer.labels)
            for a, b in zip(got, want, strict=True)
        )
        print(
            f"\n3. the folded recurrence in numpy (max |diff| vs the model {np.abs(got - want).max():.1e}, "
            f"labels equal: {labels_equal}), texts per second\n"
        )
        print("| batch | onnxruntime LSTM op (padding skip) | folded, numpy | folded / op |")
        print("|---|---|---|---|")
        folded_rows = {}
        for batch in (1, 16):
            chunks = [sorted(sequences[:256], key=len)[i : i + batch] for i in range(0, 256, batch)]

            def op_run(c: list[Any] = chunks) -> list[Any]:
                return [skip.scores(scorer.session, spec.output_name, x) for x in c]

            def numpy_run(c: list[Any] = chunks) -> list[Any]:
                return [folded(x) for x in c]

            op = best_of(op_run, max(3, args.repeat // 10))
            numpy_time = best_of(numpy_run, max(3, args.repeat // 10))
            print(f"| {batch} | {256 / op:,.0f} | {256 / numpy_time:,.0f} | {op / numpy_time:.2f}x |")
            folded_rows[batch] = {"op_texts_per_s": 256 / op, "numpy_texts_per_s": 256 / numpy_time}
        results["folded_numpy"] = folded_rows
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
