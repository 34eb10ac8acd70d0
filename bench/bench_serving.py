"""Serving benchmark: the scoring URI under a real load generator, beside Azure ML's own server.

    python -m bench.bench_serving FIXTURE_DIR PACKAGED_FP32 [--duration 8] [--keras-requests 30] [--keras-rounds 3]
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
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.serving_report import CEILING, LOADS, Row, markdown, merge, verdicts, write_section

REPO = Path(__file__).resolve().parents[1]
SEED = REPO.parent / "shared" / "seeds" / "use-an-existing-model.nl.md"
BODY = '{"text": "Today is a great day!"}'
START_TIMEOUT = 240.0
STANDINS = Path(__file__).resolve().parent / "programs" / "serving_standins.py"


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


# --- the run ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("fixture", type=Path, nargs="?")
    parser.add_argument("model_dir", type=Path, nargs="?")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per ONNX row and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the ONNX rows (median)")
    parser.add_argument(
        "--keras-requests", type=int, default=30, help="requests per Keras row and round (at least one per client)"
    )
    # One turn of the two Keras servers swung 0.7x - 1.2x between runs of the same code: Keras's own
    # run-to-run spread on two shared cores is larger than the servers' difference, so take turns.
    parser.add_argument("--keras-rounds", type=int, default=3, help="interleaved rounds of the Keras rows (median)")
    parser.add_argument("--labels", type=int, default=60, help="held-out tweets whose labels are compared")
    parser.add_argument("--skip-peer", action="store_true", help="no azmlinfsrv and no Keras rows")
    parser.add_argument("--results", type=Path, default=None, help="write the serving section into this file")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
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
                        str(STANDINS),
                        "fixed-wait",
                        "--port",
                        str(port),
                        "--model-dir",
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
                    [sys.executable, str(STANDINS), "ceiling", "--port", str(port)],
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
                            str(STANDINS),
                            "aiohttp",
                            "--port",
                            str(port),
                            "--model-dir",
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
                    for _ in range(args.keras_rounds if keras else args.rounds):
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
        f"each load: Keras rows {args.keras_rounds} interleaved rounds of {args.keras_requests} requests (at least "
        f"one per client), ONNX rows {args.rounds} rounds of {args.duration:.0f} s (median req/s with min - max; "
        "p50 / p99 medians). Steal is the hypervisor's share of CPU time during the row (/proc/stat), load avg the "
        "1-minute average after it (both the highest round's): above 2, other work shared the cores."
    )
    from datetime import UTC, datetime

    header = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `bench_serving.py {args.fixture.name} {args.model_dir.name}"
        f" --duration {args.duration:g} --rounds {args.rounds} --keras-requests {args.keras_requests}"
        f" --keras-rounds {args.keras_rounds}`\n\n"
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
