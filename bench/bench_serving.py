"""Serving benchmark: the scoring URI under a real load generator, beside Azure ML's own server.

    python -m bench.bench_serving FIXTURE_DIR PACKAGED_FP32 [--duration 8] [--keras-requests 30]
                                  [--results bench/results.md] [--skip-peer] [--json OUT]

FIXTURE_DIR holds the seed's files (model.h5, model.w2v, tokenizer.pkl, encoder.pkl,
heldout.jsonl); PACKAGED_FP32 what `edgeship package` wrote. In one run, each as its own process
on loopback, loaded by `hey` (Debian's package):

- azmlinfsrv 1.5.1 (pinned, its own venv under .cache/) with the seed's score.py: the baseline;
- edgeship hosting the same score.py (`python -m edgeship_sentiment --entry-script`);
- edgeship's ONNX scorer (the module's HTTP face, adaptive micro-batching);
- the same ONNX scorer with the old fixed-wait batcher (re-created here, 2 ms): what adaptive
  batching must not lose under load;
- the same ONNX scorer behind aiohttp instead of uvicorn (when aiohttp is importable): the
  measurement behind the choice of server library;
- the ceiling: the module's HTTP server (uvicorn, the same socket options) answering every
  ``POST /score`` with a fixed reply of the same size and no scoring: what the HTTP stack and
  ``hey`` reach on this machine, so a missed target says how much of the cost is the scorer.

The seed's score.py is the one in the seed document, with two changes every path shares:
`keras` -> `tf_keras` (Keras 3 cannot read the Keras 2 h5) and `float(score[0])` (numpy 2.4
refuses float() of a 1-element array). Loads: 1 client keep-alive, 1 client with a new
connection per request, 32 and 256 concurrent clients; requests per second, p50 / p99 and
errors; the labels of every path are checked against the seed's path on held-out tweets. CPU
steal and the load average are recorded for every row (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "seeds" / "use-an-existing-model.nl.md"
BODY = '{"text": "Today is a great day!"}'
START_TIMEOUT = 240.0


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_times() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return values[7], sum(values)


def seed_script() -> str:
    if not SEED.is_file():
        raise SystemExit(f"error: the seed document is not at {SEED}")
    blocks = re.findall(r"```python\n(.*?)```", SEED.read_text(encoding="utf-8"), re.S)
    script = str(next(block for block in blocks if "def init()" in block))
    return script.replace("from keras.", "from tf_keras.").replace('"score": float(score)', '"score": float(score[0])')


def hey_binary() -> str:
    found = shutil.which("hey") or ("/usr/bin/hey" if Path("/usr/bin/hey").exists() else None)
    if not found:
        raise SystemExit("error: hey is not installed (apt-get install hey; make bench installs it when root)")
    return found


def parse_hey(output: str, load: str, path: str, steal: float, loadavg: float) -> Row:
    def number(pattern: str) -> float:
        match = re.search(pattern, output)
        return float(match.group(1)) if match else float("nan")

    statuses = {int(code): int(count) for code, count in re.findall(r"\[(\d{3})\]\s+(\d+) responses", output)}
    error_lines = (
        re.findall(r"^\s+\[(\d+)\]\s+(.+)$", output.split("Error distribution:", 1)[1], re.M)
        if "Error distribution:" in output
        else []
    )
    errors = sum(int(count) for count, _ in error_lines) + sum(c for s, c in statuses.items() if s != 200)
    kinds = sorted({re.sub(r".*: ", "", text).strip() for _, text in error_lines})
    kinds += [f"HTTP {s}" for s in statuses if s != 200]
    p99 = number(r"99% in ([\d.]+) secs")
    if p99 != p99:  # hey prints no 99th percentile under 100 requests: there it is the slowest
        p99 = number(r"Slowest:\s+([\d.]+) secs")
    return Row(
        path,
        load,
        sum(statuses.values()),
        number(r"Requests/sec:\s+([\d.]+)"),
        number(r"50% in ([\d.]+) secs") * 1000,
        p99 * 1000,
        errors,
        "; ".join(kinds)[:120],
        steal,
        loadavg,
    )


LOADS = {
    "1 client, keep-alive": ["-c", "1"],
    "1 client, new connection each": ["-c", "1", "-disable-keepalive"],
    "32 clients": ["-c", "32"],
    "256 clients": ["-c", "256"],
}


def run_load(url: str, path: str, load: str, *, duration: float | None, requests_total: int | None) -> Row:
    args = [hey_binary(), *LOADS[load], "-m", "POST", "-T", "application/json", "-d", BODY, "-t", "120"]
    clients = int(LOADS[load][1])
    if duration is not None:
        args += ["-z", f"{duration}s"]
    else:
        args += ["-n", str(max(requests_total or 0, clients))]
    before = cpu_times()
    output = subprocess.run([*args, url + "/score"], capture_output=True, text=True, check=False, timeout=900).stdout
    after = cpu_times()
    steal = (after[0] - before[0]) / max(1, after[1] - before[1])
    return parse_hey(output, load, path, steal, os.getloadavg()[0])


class Server:
    def __init__(self, name: str, command: list[str], cwd: Path, env: dict[str, str], port: int, log: Path) -> None:
        self.name, self.url, self.log = name, f"http://127.0.0.1:{port}", log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.wait_ready()

    def wait_ready(self) -> None:
        import requests

        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(
                    f"error: {self.name} exited {self.process.returncode}: "
                    f"{self.log.read_text(errors='replace')[-1500:]}"
                )
            try:
                if (
                    requests.post(
                        self.url + "/score", data=BODY, timeout=60, headers={"Content-Type": "application/json"}
                    ).status_code
                    == 200
                ):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)  # polling a starting process (TensorFlow takes seconds): no event to wait on
        raise SystemExit(f"error: {self.name} did not answer within {START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def labels_of(url: str, texts: list[str]) -> list[tuple[str, float]]:
    import requests

    session = requests.Session()
    out = []
    for text in texts:
        body = session.post(
            url + "/score", data=json.dumps({"text": text}), timeout=60, headers={"Content-Type": "application/json"}
        ).json()
        out.append((body["label"], float(body["score"])) if isinstance(body, dict) else ("<error>", float("nan")))
    return out


# --- the two stand-ins this benchmark compares against (served with --serve) -------------------


def serve_fixed_wait(model_dir: Path, port: int) -> None:
    """The module's HTTP face with the batcher as it was: wait up to 2 ms for company, always."""
    import queue

    from edgeship_sentiment import batcher as batcher_module
    from edgeship_sentiment.http_face import SentimentHTTPServer
    from edgeship_sentiment.service import SentimentService

    class FixedWait(batcher_module.MicroBatcher):
        def _gather(self, first: Any, idle: bool = True) -> Any:
            batch, texts = [first], len(first.texts)
            deadline = time.perf_counter() + self.settings.max_batch_delay_ms / 1000
            while texts < self.settings.max_batch:
                remaining = deadline - time.perf_counter()
                try:
                    item: Any = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is batcher_module._STOP:
                    return batch, None, True
                if texts + len(item.texts) > self.settings.max_batch:
                    return batch, item, False
                batch.append(item)
                texts += len(item.texts)
            return batch, None, False

    batcher_module.MicroBatcher = FixedWait  # type: ignore[misc]
    import edgeship_sentiment.service as service_module

    service_module.MicroBatcher = FixedWait  # type: ignore[attr-defined]
    service = SentimentService(model_dir, capture_dir=Path(tempfile.mkdtemp()))
    SentimentHTTPServer(service, "127.0.0.1", port).start_background()
    threading_event_forever()


def serve_aiohttp(model_dir: Path, port: int) -> None:
    """The same service and request handling behind aiohttp (TCP_NODELAY on, as aiohttp sets it)."""
    import asyncio

    from aiohttp import web

    from edgeship_sentiment.service import SentimentService

    service = SentimentService(model_dir, capture_dir=Path(tempfile.mkdtemp()))

    async def score(request: web.Request) -> web.Response:
        body = await request.read()
        reply = await asyncio.wrap_future(service.submit(body, "http", request.headers.get("x-request-id")))
        return web.Response(body=reply.body(), status=reply.status, content_type="application/json")

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"live": True})

    app = web.Application(client_max_size=256 * 1024)
    app.router.add_post("/score", score)
    app.router.add_get("/", health)
    web.run_app(app, host="127.0.0.1", port=port, backlog=2048, access_log=None, print=None)


def serve_ceiling(port: int) -> None:
    """The module's HTTP server with a constant reply: the HTTP stack's own cost, no scorer."""
    from edgeship_sentiment.http_server import HTTPServer, Receive, Scope, Send, read_body, respond

    reply = json.dumps({"label": "POSITIVE", "score": 0.9512345678, "elapsed_time": 0.0001234}).encode()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_body(receive, 256 * 1024)
        await respond(send, 200, reply, "application/json")

    HTTPServer(app, "127.0.0.1", port).start_background()
    threading_event_forever()


def threading_event_forever() -> None:
    import threading

    threading.Event().wait()  # serve until terminated


# --- the run ----------------------------------------------------------------------------------


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fixture", type=Path, nargs="?")
    parser.add_argument("model_dir", type=Path, nargs="?")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per ONNX row and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the ONNX rows (median)")
    parser.add_argument(
        "--keras-requests", type=int, default=30, help="requests per Keras row (at least one per client)"
    )
    parser.add_argument("--labels", type=int, default=60, help="held-out tweets whose labels are compared")
    parser.add_argument("--skip-peer", action="store_true", help="no azmlinfsrv and no Keras rows")
    parser.add_argument("--results", type=Path, default=None, help="write the serving section into this file")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--serve", choices=["fixed-wait", "aiohttp", "ceiling"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "ceiling":
        serve_ceiling(args.port)
        return
    if args.serve:
        (serve_fixed_wait if args.serve == "fixed-wait" else serve_aiohttp)(args.model_dir, args.port)
        return
    if args.fixture is None or args.model_dir is None:
        parser.error("FIXTURE_DIR and PACKAGED_FP32 are required")
    # The servers run in temporary folders: relative paths would point nowhere there.
    args.fixture, args.model_dir = args.fixture.resolve(), args.model_dir.resolve()
    from edgeship.services import peer

    hey_binary()
    texts = [json.loads(line)["text"] for line in (args.fixture / "heldout.jsonl").read_text().splitlines()]
    texts = texts[: args.labels]
    labels: dict[str, list[tuple[str, float]]] = {}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("IOTEDGE_", "AZUREML_", "AML_"))}
    tf_env = {**base_env, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp_name:
        tmp = Path(tmp_name)
        app = tmp / "app"
        (app / "azureml-models" / "models").mkdir(parents=True)
        for name in ("model.h5", "model.w2v", "tokenizer.pkl", "encoder.pkl"):
            (app / "azureml-models" / "models" / name).symlink_to((args.fixture / name).resolve())
        (app / "score.py").write_text(seed_script(), encoding="utf-8")
        module = [sys.executable, "-m", "edgeship_sentiment", "--no-iothub", "--capture-dir", str(tmp / "capture")]
        plan: list[tuple[str, Any]] = []
        keras_paths = ("azmlinfsrv + score.py", "edgeship + score.py")
        onnx_paths = ("edgeship ONNX", "edgeship ONNX, fixed 2 ms wait", "edgeship ONNX on aiohttp", CEILING)
        raw: dict[tuple[str, str], list[Row]] = {}
        if not args.skip_peer:
            venv = peer.ensure_venv(REPO / ".cache")
            plan.append(
                (
                    "azmlinfsrv + score.py",
                    lambda port: Server(
                        "azmlinfsrv",
                        peer.launch_command(
                            venv, app / "score.py", app / "azureml-models", port, peer.project_site_packages()
                        ),
                        app,
                        tf_env,
                        port,
                        tmp / "azmlinfsrv.log",
                    ),
                )
            )
            plan.append(
                (
                    "edgeship + score.py",
                    lambda port: Server(
                        "edgeship + score.py",
                        [
                            *module,
                            "--http",
                            f"127.0.0.1:{port}",
                            "--entry-script",
                            str(app / "score.py"),
                            "--model-dir",
                            str(app / "azureml-models"),
                        ],
                        app,
                        tf_env,
                        port,
                        tmp / "hosted.log",
                    ),
                )
            )
        plan.append(
            (
                "edgeship ONNX",
                lambda port: Server(
                    "edgeship ONNX",
                    [*module, "--http", f"127.0.0.1:{port}", "--model-dir", str(args.model_dir)],
                    tmp,
                    base_env,
                    port,
                    tmp / "onnx.log",
                ),
            )
        )
        plan.append(
            (
                "edgeship ONNX, fixed 2 ms wait",
                lambda port: Server(
                    "fixed wait",
                    [
                        sys.executable,
                        str(Path(__file__).resolve()),
                        "--serve",
                        "fixed-wait",
                        "--port",
                        str(port),
                        "x",
                        str(args.model_dir),
                    ],
                    tmp,
                    base_env,
                    port,
                    tmp / "fixed.log",
                ),
            )
        )
        plan.append(
            (
                CEILING,
                lambda port: Server(
                    "ceiling",
                    [sys.executable, str(Path(__file__).resolve()), "--serve", "ceiling", "--port", str(port)],
                    tmp,
                    base_env,
                    port,
                    tmp / "ceiling.log",
                ),
            )
        )
        try:
            import aiohttp  # noqa: F401 - only to know whether the comparison row can run

            plan.append(
                (
                    "edgeship ONNX on aiohttp",
                    lambda port: Server(
                        "aiohttp",
                        [
                            sys.executable,
                            str(Path(__file__).resolve()),
                            "--serve",
                            "aiohttp",
                            "--port",
                            str(port),
                            "x",
                            str(args.model_dir),
                        ],
                        tmp,
                        base_env,
                        port,
                        tmp / "aiohttp.log",
                    ),
                )
            )
        except ImportError:
            print("aiohttp is not installed: no server-library comparison rows", flush=True)
        # Servers of one kind run side by side and take turns under each load, round after round,
        # so a neighbour's load on this shared machine falls on all of them alike.
        for group in (keras_paths, onnx_paths):
            members = [(path, start) for path, start in plan if path in group]
            servers = []
            try:
                for path, start in members:
                    servers.append((path, start(free_port())))
                for load in LOADS:
                    clients = int(LOADS[load][1])
                    keras = group is keras_paths
                    for _ in range(1 if keras else args.rounds):
                        for path, server in servers:
                            row = run_load(
                                server.url,
                                path,
                                load,
                                duration=None if keras else args.duration,
                                requests_total=max(args.keras_requests, clients) if keras else None,
                            )
                            raw.setdefault((path, load), []).append(row)
                            print(
                                f"{path:32} {load:31} {row.rps:9.1f} req/s  p50 {row.p50_ms:7.1f} ms  "
                                f"p99 {row.p99_ms:7.1f} ms  errors {row.errors}  steal {row.steal:.0%}",
                                flush=True,
                            )
                for path, server in servers:
                    if path in ("azmlinfsrv + score.py", "edgeship + score.py", "edgeship ONNX"):
                        labels[path] = labels_of(server.url, texts)
            finally:
                for _, server in servers:
                    server.stop()
    rows = [merge(rounds) for rounds in raw.values()]
    reference = labels.get("azmlinfsrv + score.py")
    label_text: dict[str, str] = {}
    for path, got in labels.items():
        if reference is None or path == "azmlinfsrv + score.py":
            continue
        same = sum(a[0] == b[0] for a, b in zip(got, reference, strict=True))
        diff = max(abs(a[1] - b[1]) for a, b in zip(got, reference, strict=True))
        label_text[path] = f"{same} / {len(reference)} labels equal, max |score difference| {diff:.1e}"
    note = (
        f"`hey` on the same 2 cores as the servers. Servers of a kind run side by side and take turns under "
        f"each load: Keras rows one turn of {args.keras_requests} requests (at least one per client), ONNX rows "
        f"{args.rounds} interleaved rounds of {args.duration:.0f} s (median req/s with min - max; p50 / p99 "
        "medians). Steal is the hypervisor's share of CPU time during the row (/proc/stat), load avg the "
        "1-minute average after it (both the highest round's): above 2, other work shared the cores."
    )
    from datetime import UTC, datetime

    header = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `bench_serving.py {args.fixture.name} {args.model_dir.name}"
        f" --duration {args.duration:g} --rounds {args.rounds} --keras-requests {args.keras_requests}`\n\n"
    )
    text = header + markdown(rows, label_text, verdicts(rows), note)
    print("\n" + text)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n", encoding="utf-8")
    if args.results:
        write_section(args.results, text)
        print(f"section 'serving' written to {args.results}")


if __name__ == "__main__":
    main()
