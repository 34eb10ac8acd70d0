"""End to end: tweets per second from a source module through the sentiment module to $upstream.

    python bench/bench_e2e.py PACKAGED_DIR TWEETS_JSONL [--int8-dir PACKAGED_INT8] [--messages 3000]
                              [--batch 256] [--batched-messages 200] [--rate 100] [--window 8] [--repeat 3] [--json OUT]

Three processes besides this one, all on loopback: the simulator's hub (in this process, on its
own event loop), a source module and the real sentiment module (``modules/sentiment/main.py``),
both with the real azure-iot-device SDK over TLS. Routes: source -> sentiment/input1,
sentiment/output1 and sentiment/errors -> $upstream. Each run counts every scored tweet that
reaches $upstream (none may be missing, none may be an error) and times first send to last
arrival. Runs: one tweet per message at full load, with the module's send window at 1 (results
in order) and at ``--window``; ``--batch`` tweets per message (``{"texts"}``) at full load; one
tweet per message paced at ``--rate`` for latency (send to $upstream, matched by message id /
correlation id).

The baseline is the seed's published figure for edgeHub (about 20 module-to-module messages per
second) and, measured in this run, the same source talking straight to $upstream through the
same hub, so the ratio shows what the sentiment module's hop costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).resolve().parent / "programs" / "e2e_source.py"


def _start(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if line != "ready":
        process.kill()
        raise RuntimeError(f"source did not start: {line!r}")
    return process


async def _collect(hub: Any, module: str, expected: int, timeout: float) -> list[tuple[float, Any]]:
    """(arrival time, record) for every $upstream record from ``module`` until ``expected`` texts came."""
    seq, texts, records = hub.upstream_since(0)[-1].seq if hub.upstream_since(0) else 0, 0, []
    deadline = time.monotonic() + timeout
    while texts < expected and time.monotonic() < deadline:
        fresh = await hub.wait_upstream(seq, timeout=max(0.1, deadline - time.monotonic()))
        now = time.time()
        for record in fresh:
            seq = record.seq
            if record.module != module:
                continue
            records.append((now, record))
            body = json.loads(record.body)
            texts += len(body) if isinstance(body, list) else 1
    return records


def run(
    packaged: Path,
    tweets: Path,
    *,
    messages: int,
    batch: int,
    rate: float,
    through_module: bool,
    send_window: int = 1,
    timeout: float = 300,
) -> dict[str, Any]:
    from tests.support.hub import HubThread, sentiment_module

    with tempfile.TemporaryDirectory() as tmp:
        target = 'BrokeredEndpoint("/modules/sentiment/inputs/input1")' if through_module else "$upstream"
        routes = {
            "tweets": f"FROM /messages/modules/source/outputs/tweets INTO {target}",
            "scored": "FROM /messages/modules/sentiment/outputs/output1 INTO $upstream",
            "errors": "FROM /messages/modules/sentiment/outputs/errors INTO $upstream",
        }
        desired = {"sentiment": {"max_batch": 32, "max_batch_delay_ms": 5}}  # the default manifest's
        hub = HubThread(Path(tmp) / "sim", ["sentiment", "source"], routes, desired=desired, host="127.0.0.98").start()
        try:
            with contextlib.ExitStack() as stack:
                ca = str(hub.certs.ca_cert)
                if through_module:
                    stack.enter_context(sentiment_module(hub, packaged, Path(tmp), SEND_WINDOW=str(send_window)))
                source = _start(
                    [
                        sys.executable,
                        str(SOURCE),
                        hub.connection_string("source"),
                        ca,
                        str(tweets),
                        str(messages),
                        str(batch),
                        str(rate),
                    ]
                )
                assert source.stdin is not None
                assert source.stdout is not None
                collector = asyncio.run_coroutine_threadsafe(
                    _collect(hub.hub, "sentiment" if through_module else "source", messages * batch, timeout), hub.loop
                )
                started = time.time()
                source.stdin.write("go\n")
                source.stdin.flush()
                sent = json.loads(source.stdout.readline())
                records = collector.result(timeout + 10)
                source.stdin.write("stop\n")
                source.stdin.flush()
                source.wait(30)
        finally:
            hub.stop()
    texts = errors = 0
    latencies = []
    for arrived, record in records:
        body = json.loads(record.body)
        results = body if isinstance(body, list) else [body]
        texts += len(results)
        errors += sum(1 for r in results if "error" in r or "label" not in r) if through_module else 0
        key = record.system_properties.get("correlationId") or record.system_properties.get("messageId")
        if key in sent["sent_at"]:
            latencies.append(arrived - sent["sent_at"][key])
    span = (records[-1][0] - started) if records else float("nan")
    latencies.sort()
    n = len(latencies)
    return {
        "messages": messages,
        "batch": batch,
        "texts_expected": messages * batch,
        "texts_received": texts,
        "errors": errors,
        "seconds": span,
        "tweets_per_s": texts / span,
        "msgs_per_s": len(records) / span,
        "p50_ms": latencies[n // 2] * 1000 if n else None,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("packaged_dir", type=Path)
    parser.add_argument("tweets", type=Path, help="a JSON-lines file with a 'text' per line (heldout.jsonl)")
    parser.add_argument("--int8-dir", type=Path, default=None, help="also run the batched messages on this model")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--batched-messages", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--latency-messages", type=int, default=500)
    parser.add_argument("--window", type=int, default=8, help="the sentiment module's send window to compare")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every row")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    def through(messages: int, batch: int, rate: float, window: int, model: Path | None = None) -> dict[str, Any]:
        return run(
            model or args.packaged_dir,
            args.tweets,
            messages=messages,
            batch=batch,
            rate=rate,
            through_module=True,
            send_window=window,
        )

    rows: dict[str, Callable[[], dict[str, Any]]] = {
        "source -> $upstream, no module (hub baseline)": lambda: run(
            args.packaged_dir, args.tweets, messages=args.messages, batch=1, rate=0, through_module=False
        ),
        "source -> sentiment -> $upstream, 1 tweet/message, send window 1": lambda: through(args.messages, 1, 0, 1),
        f"source -> sentiment -> $upstream, 1 tweet/message, send window {args.window}": lambda: through(
            args.messages, 1, 0, args.window
        ),
        f"source -> sentiment -> $upstream, {args.batch} tweets/message, send window 1": lambda: through(
            args.batched_messages, args.batch, 0, 1
        ),
        f"source -> sentiment -> $upstream, 1 tweet/message at {args.rate:g}/s, send window 1": lambda: through(
            args.latency_messages, 1, args.rate, 1
        ),
    }
    if args.int8_dir:
        rows[f"source -> sentiment (int8) -> $upstream, {args.batch} tweets/message, send window 1"] = lambda: through(
            args.batched_messages, args.batch, 0, 1, args.int8_dir
        )
    samples: dict[str, list[dict[str, Any]]] = {label: [] for label in rows}
    for _ in range(args.repeat):  # rounds, not row by row: a slow spell of the machine hits every row
        for label, fn in rows.items():
            samples[label].append(fn())
    runs = {label: summarize(results) for label, results in samples.items()}
    print(f"{args.repeat} rounds; medians, with min - max over the rounds\n")
    print("| path | tweets in / out | errors | tweets/s | min - max | msgs/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for label, r in runs.items():
        p50 = f"{r['p50_ms']:.2f}" if r["p50_ms"] is not None else "n/a"
        p99 = f"{r['p99_ms']:.2f}" if r["p99_ms"] is not None else "n/a"
        print(
            f"| {label} | {r['texts_expected']:,} / {r['texts_received']:,} | {r['errors']} | "
            f"{r['tweets_per_s']:,.0f} | {r['tweets_per_s_min']:,.0f} - {r['tweets_per_s_max']:,.0f} | "
            f"{r['msgs_per_s']:,.0f} | {p50} | {p99} |"
        )
    values = list(runs.values())
    best = max(values[1:3], key=lambda r: r["msgs_per_s"])
    print(
        f"\nsingle-tweet messages through the module: {best['msgs_per_s'] / 20:,.0f}x the ~20 msg/s reported "
        f"for edgeHub; {best['msgs_per_s'] / values[0]['msgs_per_s']:.2f}x the same hub without the module; "
        f"send window {args.window} vs 1: {values[2]['msgs_per_s'] / values[1]['msgs_per_s']:.2f}x"
    )
    if args.json:
        args.json.write_text(json.dumps({label: {**runs[label], "rounds": samples[label]} for label in runs}, indent=2))
    lost = [label for label, r in runs.items() if r["texts_received"] < r["texts_expected"] or r["errors"]]
    if lost:
        raise SystemExit(f"tweets lost or errored in: {', '.join(lost)}")


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts summed over the rounds; rates and latencies as medians (and the rate's min - max)."""

    def median(key: str) -> Any:
        values = [r[key] for r in results if r[key] is not None]
        return statistics.median(values) if values else None

    rates = [r["tweets_per_s"] for r in results]
    return {
        "rounds": len(results),
        "texts_expected": sum(r["texts_expected"] for r in results),
        "texts_received": sum(r["texts_received"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "tweets_per_s": statistics.median(rates),
        "tweets_per_s_min": min(rates),
        "tweets_per_s_max": max(rates),
        "msgs_per_s": median("msgs_per_s"),
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
    }


if __name__ == "__main__":
    main()
