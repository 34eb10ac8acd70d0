"""bench_serving's rows and report: medians over rounds, the targets' verdicts, the results section."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LOADS = {
    "1 client, keep-alive": ["-c", "1"],
    "1 client, new connection each": ["-c", "1", "-disable-keepalive"],
    "32 clients": ["-c", "32"],
    "256 clients": ["-c", "256"],
}


@dataclass
class Row:
    path: str
    load: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_kinds: str
    steal: float
    loadavg: float
    rps_min: float = 0.0
    rps_max: float = 0.0
    rounds: int = 1


def merge(rounds: list[Row]) -> Row:
    """Medians over interleaved rounds; counts summed; the range of req/s kept."""
    import statistics

    first = rounds[0]
    return Row(
        first.path,
        first.load,
        sum(r.requests for r in rounds),
        statistics.median(r.rps for r in rounds),
        statistics.median(r.p50_ms for r in rounds),
        statistics.median(r.p99_ms for r in rounds),
        sum(r.errors for r in rounds),
        "; ".join(sorted({r.error_kinds for r in rounds if r.error_kinds})),
        max(r.steal for r in rounds),
        max(r.loadavg for r in rounds),
        min(r.rps for r in rounds),
        max(r.rps for r in rounds),
        len(rounds),
    )


def markdown(rows: list[Row], labels: dict[str, str], verdicts: list[str], note: str) -> str:
    lines = [
        "| path | load | requests | req/s | p50 ms | p99 ms | errors | steal | load avg |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        errors = f"{r.errors} ({r.error_kinds})" if r.errors else "0"
        spread = f" ({r.rps_min:,.0f} - {r.rps_max:,.0f})" if r.rounds > 1 else ""
        lines.append(
            f"| {r.path} | {r.load} | {r.requests} | {r.rps:,.1f}{spread} | {r.p50_ms:.1f} | "
            f"{r.p99_ms:.1f} | {errors} | {r.steal:.0%} | {r.loadavg:.1f} |"
        )
    lines += ["", "Labels against the seed's path (azmlinfsrv + score.py) on held-out tweets:", ""]
    lines += [f"- {path}: {text}" for path, text in labels.items()]
    lines += ["", "Targets (ratios from this run):", ""] + [f"- {v}" for v in verdicts]
    return "\n".join(lines) + f"\n\n{note}\n"


CEILING = "ceiling: same HTTP server, no scoring"


def find(rows: list[Row], path: str, load: str) -> Row | None:
    return next((r for r in rows if r.path == path and r.load == load), None)


def verdicts(rows: list[Row]) -> list[str]:
    out = []
    onnx, seed, hosted = "edgeship ONNX", "azmlinfsrv + score.py", "edgeship + score.py"
    keep = find(rows, onnx, "1 client, keep-alive")
    if keep:
        met = keep.p50_ms < 1 and keep.rps >= 1000
        out.append(
            f"ONNX, 1 keep-alive client: p50 {keep.p50_ms:.2f} ms (< 1), {keep.rps:,.0f} req/s (>= 1,000): "
            f"{'met' if met else 'missed'}"
        )
    new, seed_new = find(rows, onnx, "1 client, new connection each"), find(rows, seed, "1 client, new connection each")
    if new and seed_new and seed_new.rps > 0:
        ratio = new.rps / seed_new.rps
        out.append(
            f"ONNX, new connection per request: {ratio:.0f}x the seed's Keras path (>= 30x): "
            f"{'met' if ratio >= 30 else 'missed'}"
        )
    many = find(rows, onnx, "256 clients")
    if many:
        met = many.errors == 0 and many.rps >= 3000
        out.append(
            f"ONNX, 256 clients: {many.errors} errors, {many.rps:,.0f} req/s (0 errors, >= 3,000): "
            f"{'met' if met else 'missed'}"
        )
    for load in LOADS:
        ours, theirs = find(rows, hosted, load), find(rows, seed, load)
        if ours and theirs and theirs.rps > 0:
            ratio = ours.rps / theirs.rps
            out.append(
                f"hosting score.py, {load}: {ratio:.2f}x azmlinfsrv's req/s (>= 1): {'met' if ratio >= 1 else 'missed'}"
            )
    for load in ("32 clients", "256 clients"):
        adaptive, fixed = find(rows, onnx, load), find(rows, "edgeship ONNX, fixed 2 ms wait", load)
        if adaptive and fixed and fixed.rps > 0:
            out.append(f"adaptive vs fixed-wait batching, {load}: {adaptive.rps / fixed.rps:.2f}x req/s")
    for load in LOADS:
        uv, aio = find(rows, onnx, load), find(rows, "edgeship ONNX on aiohttp", load)
        if uv and aio and aio.rps > 0:
            out.append(f"uvicorn vs aiohttp (same app), {load}: {uv.rps / aio.rps:.2f}x req/s")
    for load in LOADS:
        ours, ceiling = find(rows, onnx, load), find(rows, CEILING, load)
        if ours and ceiling and ceiling.rps > 0 and ours.rps > 0:
            cost = 1000 / ours.rps - 1000 / ceiling.rps
            out.append(
                f"ONNX vs the ceiling (no scoring), {load}: {ours.rps / ceiling.rps:.2f}x its req/s "
                f"({ceiling.rps:,.0f} req/s, p50 {ceiling.p50_ms:.2f} ms without the scorer; "
                f"the scorer adds {cost:.2f} ms per request at this load)"
            )
    return out


def write_section(results: Path, text: str) -> None:
    """Replace this benchmark's section of results.md (or add it), leaving the others as they are."""
    old = results.read_text(encoding="utf-8") if results.is_file() else "# Benchmark results\n"
    section = "## serving\n\n" + text.strip() + "\n"
    match = re.search(r"^## serving\n.*?(?=^## |\Z)", old, re.S | re.M)
    new = (
        old[: match.start()] + section + ("\n" + old[match.end() :] if old[match.end() :] else "")
        if match
        else old.rstrip("\n") + "\n\n" + section
    )
    results.write_text(new, encoding="utf-8")
