"""The demo, step by step: fixture -> registry -> package -> manifest -> simulator -> summary.

Everything runs offline on this machine: the reference model is trained once and cached, the
deployment runs in the edge runtime simulator with the real modules (``modules/sentiment`` and
``modules/tweetsource`` as processes speaking the real SDK over TLS), and every process the demo
starts is stopped before it returns.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from rich.console import Console
from rich.live import Live
from rich.table import Table

from edgeship._net import free_port
from edgeship.errors import EdgeshipError
from edgeship.jsontypes import JSONObject, JSONValue
from edgeship.project import package_registered, sentiment_model_dir, write_local_manifest

if TYPE_CHECKING:
    from edgesim.testing import SimulatorHarness

PROBE_TEXT = "not bad at all, could be better"
T = TypeVar("T")


@dataclass(frozen=True)
class DemoOptions:
    project: Path  # the checkout: modules/, manifests/
    home: Path  # registry, caches, simulator state
    fixture_size: str = "full"
    host: str = "127.0.0.1"
    rate_per_sec: float = 60.0
    timeout: float = 240.0
    live: bool = True


@dataclass
class DemoSummary:
    model: str = ""
    heldout: int = 0
    messages: int = 0
    errors: int = 0
    accuracy: float | None = None
    majority_share: float | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    throughput_per_s: float | None = None
    method_result: JSONObject = field(default_factory=dict)
    http_result: JSONObject = field(default_factory=dict)
    label_before: str = ""
    label_after: str = ""
    seconds: float = 0.0
    steps: list[tuple[str, float]] = field(default_factory=list)

    def to_json(self) -> JSONObject:
        return dict(self.__dict__)


def _fixture_digest(project: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((project / "tools" / "edgeship" / "fixture").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class _Steps:
    def __init__(self, console: Console, summary: DemoSummary) -> None:
        self.console = console
        self.summary = summary

    def run(self, title: str, action: Callable[[], T]) -> T:
        index = len(self.summary.steps) + 1
        self.console.rule(f"[bold]{index}. {title}")
        started = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - started
        self.summary.steps.append((title, seconds))
        self.console.print(f"[green]done[/] in {seconds:.1f} s")
        return result


def run_demo(options: DemoOptions, console: Console | None = None) -> DemoSummary:
    console = console or Console()
    summary = DemoSummary()
    steps = _Steps(console, summary)
    started = time.perf_counter()
    project, home = options.project, options.home

    # 1. the reference model folder in the seed's format (trained once, then reused)
    fixture_dir = home / "cache" / f"fixture-{options.fixture_size}-{_fixture_digest(project)}"

    def build_fixture() -> None:
        if (fixture_dir / "fixture.json").is_file():
            console.print(f"reusing the cached reference model in {fixture_dir}")
            return
        from edgeship.fixture import FixtureSpec
        from edgeship.fixture import build_fixture as train

        spec = FixtureSpec.for_size("small" if options.fixture_size == "small" else "full")
        report = train(fixture_dir, spec, home / "cache" / "data")
        console.print(f"held-out accuracy {report.heldout_accuracy:.1%} (majority class {report.majority_share:.1%})")

    steps.run("build the reference model (model.h5, model.w2v, tokenizer.pkl, encoder.pkl)", build_fixture)
    fixture = json.loads((fixture_dir / "fixture.json").read_text())["report"]
    summary.majority_share = float(fixture["majority_share"])

    # 2. register it
    from edgeship.registry import Registry

    registry = Registry.open(home)
    record = steps.run(
        "register it: edgeship model register",
        lambda: registry.register(
            fixture_dir,
            "sentiment",
            description="Twitter sentiment (edgeship demo fixture)",
            tags={"framework": "keras", "source": "edgeship-demo"},
            child_paths=["model.h5", "model.w2v", "tokenizer.pkl", "encoder.pkl", "heldout.jsonl"],
        ),
    )
    summary.model = record.ref
    console.print(f"registered [bold]{record.ref}[/] (sha256 {record.sha256[:12]})")

    # 3. package it behind the parity gate
    from edgeship.packager.display import print_result

    result = steps.run(
        "package it: Keras -> ONNX, parity gate",
        lambda: package_registered(registry, record, sentiment_model_dir(project)),
    )
    print_result(console, result)

    # 4. the deployment manifest, generated and validated
    http_port = free_port(options.host)
    manifest_path = project / "manifests" / "deployment.amd64.json"

    def make_manifest() -> JSONObject:
        from edgeship.manifest import Severity

        generated = write_local_manifest(project, manifest_path, f"{options.host}:{http_port}")
        warnings = generated.report.of_severity(Severity.WARNING)
        console.print(f"wrote {manifest_path.relative_to(project)}: valid ({len(warnings)} warnings)")
        return generated.manifest

    manifest = steps.run("generate and validate the deployment manifest", make_manifest)
    demo_manifest = _demo_manifest(manifest, fixture_dir / "heldout.jsonl", options.rate_per_sec)
    state = home / "demo-sim"
    state.mkdir(parents=True, exist_ok=True)
    demo_path = state / "deployment.demo.json"
    demo_path.write_text(json.dumps(demo_manifest, indent=2), encoding="utf-8")

    # 5-6. run it in the simulator, watch $upstream, then method, HTTP and twin
    heldout = [json.loads(line) for line in (fixture_dir / "heldout.jsonl").read_text().splitlines() if line.strip()]
    truth = {row["id"]: (row["text"], row["label"]) for row in heldout}
    summary.heldout = len(truth)
    from edgesim.testing import SimulatorHarness, run_simulator_config

    harness = SimulatorHarness(
        run_simulator_config(demo_path, state_dir=state / "state", host=options.host, modules_dir=project / "modules")
    )
    steps.run("start the edge runtime simulator (hub, agent, modules as processes)", harness.start)
    try:
        steps.run(
            "wait for both modules to connect", lambda: harness.wait_connected("sentiment", "tweetsource", timeout=90)
        )
        steps.run(
            "stream the held-out tweets through the route into $upstream",
            lambda: _watch_upstream(harness, truth, summary, options, console),
        )
        steps.run(
            "invoke the 'score' direct method, call the HTTP endpoint, patch thresholds",
            lambda: _interact(harness, summary, options, http_port, console),
        )
        reported = harness.twin("sentiment")["reported"]
        latency = reported.get("latency", {})
        summary.latency_p50_ms, summary.latency_p99_ms = latency.get("p50_ms"), latency.get("p99_ms")
    finally:
        steps.run("stop everything", harness.stop)
    summary.seconds = time.perf_counter() - started
    _print_summary(console, summary)
    return summary


def _object(value: JSONValue, where: str) -> JSONObject:
    if not isinstance(value, dict):
        raise EdgeshipError(f"the generated manifest's {where} is not an object")
    return value


def _demo_manifest(manifest: JSONObject, heldout: Path, rate: float) -> JSONObject:
    demo = _object(json.loads(json.dumps(manifest)), "document")
    content = _object(demo["modulesContent"], "modulesContent")
    agent = _object(_object(content["$edgeAgent"], "$edgeAgent")["properties.desired"], "$edgeAgent desired")
    source = _object(_object(agent["modules"], "modules")["tweetsource"], "tweetsource module")
    _object(source.setdefault("env", {}), "tweetsource env")["TWEETS_FILE"] = {"value": str(heldout)}
    twin = _object(content.setdefault("tweetsource", {"properties.desired": {}}), "tweetsource twin")
    _object(twin["properties.desired"], "tweetsource desired").update({"rate_per_sec": rate, "loop": False})
    return demo


def _watch_upstream(
    harness: SimulatorHarness,
    truth: dict[str, tuple[str, str]],
    summary: DemoSummary,
    options: DemoOptions,
    console: Console,
) -> None:
    table_rows: list[tuple[str, str, str, str, str]] = []
    correct = 0
    scored = 0
    first: float | None = None
    last: float | None = None
    seq = 0
    deadline = time.monotonic() + options.timeout

    def render() -> Table:
        table = Table(title=f"$upstream: {scored} of {len(truth)} tweets scored, {summary.errors} errors")
        table.add_column("tweet", no_wrap=True, min_width=11)
        table.add_column("text", max_width=36, no_wrap=True)
        table.add_column("label", no_wrap=True, min_width=8)
        table.add_column("score", justify="right", no_wrap=True)
        table.add_column("truth", no_wrap=True, min_width=8)
        for row in table_rows[-12:]:
            table.add_row(*row)
        return table

    with Live(render(), console=console, refresh_per_second=8, transient=not options.live) as live:
        while scored + summary.errors < len(truth) and time.monotonic() < deadline:
            for record in harness.wait_upstream(count=1, since=seq, timeout=max(0.1, deadline - time.monotonic())):
                seq = max(seq, record.seq)
                if record.output == "errors":
                    summary.errors += 1
                    continue
                result = json.loads(record.body)
                tweet_id = record.system_properties.get("correlationId", "")
                text, expected = truth.get(tweet_id, ("", None))
                now = time.monotonic()
                first = first if first is not None else now
                last = now
                scored += 1
                if expected is not None and (result["score"] >= 0.5) == (expected == "POSITIVE"):
                    correct += 1
                table_rows.append(
                    (str(tweet_id), str(text), str(result["label"]), f"{result['score']:.3f}", str(expected or "?"))
                )
            live.update(render())
    summary.messages = scored
    summary.accuracy = correct / scored if scored else None
    if first is not None and last is not None and last > first:
        summary.throughput_per_s = (scored - 1) / (last - first)
    if scored + summary.errors < len(truth):
        console.print(f"[yellow]only {scored} of {len(truth)} tweets arrived within {options.timeout:.0f} s[/]")


def _interact(
    harness: SimulatorHarness, summary: DemoSummary, options: DemoOptions, http_port: int, console: Console
) -> None:
    import requests

    status, payload = harness.invoke("sentiment", "score", {"text": PROBE_TEXT}, timeout=30)
    if status != 200:
        raise EdgeshipError(f"the score method answered {status}: {payload}")
    summary.method_result = dict(payload)
    console.print(f"method score({PROBE_TEXT!r}) -> {status} {payload}")
    # The seed's client code, against the module's HTTP face.
    scoring_uri = f"http://{options.host}:{http_port}/score"
    headers = {"Content-Type": "application/json"}
    response = requests.post(
        scoring_uri, data=json.dumps({"text": "Today is a great day!"}), headers=headers, timeout=30
    )
    summary.http_result = response.json()
    console.print(f"POST {scoring_uri} -> {response.status_code} {summary.http_result}")
    # Move the thresholds around this text's score so its label must change, through the twin.
    score = float(payload["score"])
    summary.label_before = payload["label"]
    if summary.label_before == "NEUTRAL":
        patch = {"negative": 0.0, "positive": max(0.0, score - 0.01)}
    else:
        patch = {"negative": max(0.0, score - 0.01), "positive": min(1.0, score + 0.01)}
    harness.patch_desired("sentiment", {"thresholds": patch})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        settings = harness.twin("sentiment")["reported"].get("settings", {})
        if settings.get("thresholds") == patch:
            break
        time.sleep(0.1)  # polling the twin's reported properties, bounded by the deadline
    after = harness.invoke("sentiment", "score", {"text": PROBE_TEXT}, timeout=30)[1]
    summary.label_after = after["label"]
    console.print(f"twin thresholds -> {patch}: {PROBE_TEXT!r} was {summary.label_before}, now {summary.label_after}")


def _print_summary(console: Console, summary: DemoSummary) -> None:
    table = Table(title="edgeship demo: summary")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("model", summary.model)
    table.add_row("tweets scored through the simulator", f"{summary.messages} of {summary.heldout}")
    table.add_row("error replies", str(summary.errors))
    if summary.accuracy is not None and summary.majority_share is not None:
        table.add_row(
            "accuracy vs the tweets' labels", f"{summary.accuracy:.1%} (majority class {summary.majority_share:.1%})"
        )
    if summary.latency_p50_ms is not None:
        table.add_row("module latency p50 / p99", f"{summary.latency_p50_ms:.2f} / {summary.latency_p99_ms:.2f} ms")
    if summary.throughput_per_s is not None:
        table.add_row("throughput at $upstream", f"{summary.throughput_per_s:.0f} tweets/s (source paced)")
    table.add_row("label change through the twin", f"{summary.label_before} -> {summary.label_after}")
    table.add_row("total time", f"{summary.seconds:.0f} s")
    console.print(table)
