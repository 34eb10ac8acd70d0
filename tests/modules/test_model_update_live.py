"""Model updates through the twin, end to end: the real module in the simulator, real archives over HTTP.

Two versions: ``sentiment:1`` is the packaged fixture baked in (fp32), ``sentiment:2`` the same
Keras model registered again and published by ``edgeship model publish --quantize int8`` (the real
packaging, parity gate included). ``edgeship model serve`` serves both archives. 1,000 tweets
stream while the twin moves the module v1 -> v2 -> v1; each result names its version in the
message property ``model`` and its score must be what that package gives the text when scored
directly. Mid-stream, two bad updates (a wrong sha256, an archive that climbs out of its
folder) are refused while v1 keeps serving. The module scores one text per call here
(``max_batch: 1``) because int8 dynamic quantization scales activations per call, so an int8
score depends on the batch it rode in (up to 0.024 measured on the fixture): per call, both
versions are exactly reproducible.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import json
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeship_sentiment.model import load_model_folder
from edgeship_sentiment.scorer import Engine
from tests.support.hub import HubThread, Peer, sentiment_module

pytestmark = [pytest.mark.slow, pytest.mark.integration]
ROUTES = {
    "tweets": 'FROM /messages/modules/source/outputs/tweets INTO BrokeredEndpoint("/modules/sentiment/inputs/input1")',
    "scored": "FROM /messages/modules/sentiment/outputs/output1 INTO $upstream",
    "errors": "FROM /messages/modules/sentiment/outputs/errors INTO $upstream",
}
TWEETS = 1000
EDGESHIP = Path(sys.executable).parent / "edgeship"


def edgeship(*args: str, cwd: Path) -> str:
    done = subprocess.run([str(EDGESHIP), *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def published(
    tmp_path_factory: pytest.TempPathFactory, small_model_dir: Path, packaged_model_dir: Path
) -> Iterator[dict[str, Any]]:
    """v1 (the baked-in package) and v2 (int8, packaged now) published and served over HTTP."""
    work = tmp_path_factory.mktemp("published")
    registry = work / "registry"
    for _ in range(2):
        edgeship(
            "model", "register", str(small_model_dir), "--name", "sentiment", "--registry", str(registry), cwd=work
        )
    server = subprocess.Popen(
        [str(EDGESHIP), "model", "serve", "--dir", str(work / "pub"), "--port", "0"],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    (work / "pub").mkdir()
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("serving "), line
        url = line.split(" at ")[1].strip()
        v1 = json.loads(
            edgeship(
                "model",
                "publish",
                "--packaged",
                str(packaged_model_dir),
                "--to",
                str(work / "pub"),
                "--base-url",
                url,
                "--json",
                cwd=work,
            )
        )
        v2 = json.loads(
            edgeship(
                "model",
                "publish",
                "sentiment:2",
                "--quantize",
                "int8",
                "--to",
                str(work / "pub"),
                "--base-url",
                url,
                "--registry",
                str(registry),
                "--json",
                cwd=work,
            )
        )
        assert set(v2) == {"uri", "sha256", "size", "patch"}
        assert v2["patch"]["model"] == {"name": "sentiment", "version": 2, "sha256": v2["sha256"], "uri": v2["uri"]}
        folders = {}
        for version, entry in (("sentiment:1", v1), ("sentiment:2", v2)):
            folder = work / version.replace(":", "-")
            sha = entry["sha256"]
            with tarfile.open(work / "pub" / "sha256" / f"{sha}.tar.gz") as tar:
                tar.extractall(folder, filter="data")
            folders[version] = folder
        # a hostile archive, served like any other: it climbs out of its folder
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            info = tarfile.TarInfo("../model.json")
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
        climbing_sha = hashlib.sha256(raw.getvalue()).hexdigest()
        (work / "pub" / "sha256" / f"{climbing_sha}.tar.gz").write_bytes(raw.getvalue())
        climbing = {
            "name": "sentiment",
            "version": 3,
            "sha256": climbing_sha,
            "uri": f"{url}/sha256/{climbing_sha}.tar.gz",
        }
        yield {"v1": v1, "v2": v2, "folders": folders, "server": server, "work": work, "climbing": climbing}
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(20)


def reported(hub: HubThread) -> dict[str, Any]:
    return hub.run(lambda: reported_on_loop(hub))


def reported_on_loop(hub: HubThread) -> dict[str, Any]:
    """The same, for predicates of ``hub.wait_for`` (they run on the hub's loop already)."""
    return dict(hub.hub.get_twin("sentiment")["reported"])


def wait_settled(hub: HubThread, sha256: str, timeout: float = 120) -> dict[str, Any]:
    hub.wait_for(
        lambda: (
            reported_on_loop(hub).get("model_update", {}).get("sha256") == sha256
            and reported_on_loop(hub)["model_update"].get("state") in ("applied", "rejected")
        ),
        timeout=timeout,
    )
    return dict(reported(hub)["model_update"])


def wait_applied(hub: HubThread, sha256: str, timeout: float = 120) -> dict[str, Any]:
    status = wait_settled(hub, sha256, timeout)
    assert status["state"] == "applied", status
    assert status["downloading_at"] <= status["verifying_at"] <= status["applied_at"]
    return dict(status)


def _upstream_reached(hub: HubThread, count: int) -> bool:
    """At least ``count`` records reached $upstream (run on the hub's loop by ``wait_for``)."""
    return bool(hub.hub.stats()["upstream"] >= count)


def test_1000_tweets_while_the_twin_moves_the_model_v1_v2_v1_then_a_restart_keeps_v2(
    tmp_path: Path, small_model_dir: Path, packaged_model_dir: Path, published: dict[str, Any]
) -> None:
    heldout = [json.loads(line)["text"] for line in (small_model_dir / "heldout.jsonl").read_text().splitlines()]
    tweets = [f"{heldout[i % len(heldout)]} {i}" for i in range(TWEETS)]  # each one distinct
    engines = {version: Engine.load(load_model_folder(folder)) for version, folder in published["folders"].items()}
    expected = {
        version: [float(engine.raw_scores([text])[0]) for text in tweets] for version, engine in engines.items()
    }
    differ = sum(abs(a - b) > 1e-4 for a, b in zip(expected["sentiment:1"], expected["sentiment:2"], strict=True))
    assert differ > 0.8 * TWEETS  # the two versions are told apart by their scores

    store = tmp_path / "store"
    hub = HubThread(tmp_path / "sim", ["sentiment", "source"], ROUTES, desired={"sentiment": {"max_batch": 1}}).start()
    source: Peer | None = None
    try:
        with sentiment_module(hub, packaged_model_dir, tmp_path, MODEL_STORE=str(store)) as module:
            source = Peer(hub, "source")
            source.expect("ready")
            assert reported(hub)["model_update"]["state"] == "baked-in"
            plan = {250: published["v2"], 600: published["v1"]}
            bad = {
                850: ({**published["v2"]["patch"]["model"], "sha256": "0" * 64}, "sha256 mismatch"),
                950: (published["climbing"], "climbs out"),
            }
            for i, text in enumerate(tweets):
                if i in plan:
                    # wait for the previous phase's results so each version scores a share of the stream
                    hub.wait_for(functools.partial(_upstream_reached, hub, i - 50), timeout=120)
                    hub.call(hub.hub.patch_desired("sentiment", plan[i]["patch"]))
                if i in (400, 800):
                    wait_applied(hub, (published["v2"] if i == 400 else published["v1"])["sha256"])
                if i in bad:
                    # refused mid-stream: v1 keeps serving and nothing is lost
                    hub.call(hub.hub.patch_desired("sentiment", {"model": bad[i][0]}))
                if i in (870, 970):
                    status = wait_settled(hub, bad[i - 20][0]["sha256"])
                    assert status["state"] == "rejected", status
                    assert bad[i - 20][1] in status["reason"], status
                source.command(op="send", output="tweets", body={"text": text}, message_id=f"tweet-{i}")
            for _ in range(TWEETS):
                source.expect("sent", timeout=120)
            hub.wait_for(lambda: hub.hub.stats()["upstream"] >= TWEETS, timeout=180)
            records = [r.to_json() for r in hub.run(lambda: hub.hub.upstream_since(0))]
            assert module.poll() is None

            assert [r for r in records if r["output"] != "output1"] == []  # 0 errors
            by_id = {r["system_properties"]["correlationId"]: r for r in records}
            assert set(by_id) == {f"tweet-{i}" for i in range(TWEETS)}  # 0 lost
            versions = []
            for i in range(TWEETS):
                record = by_id[f"tweet-{i}"]
                version = record["properties"]["model"]
                versions.append(version)
                score = json.loads(record["body"])["score"]
                assert score == pytest.approx(expected[version][i], abs=1e-6), (i, version)
            # v1, then v2, then v1 again, each for a stretch of the stream
            phases = [versions[0]] + [b for a, b in itertools.pairwise(versions) if a != b]
            assert phases == ["sentiment:1", "sentiment:2", "sentiment:1"], phases
            assert min(versions.count("sentiment:2"), versions[600:].count("sentiment:1")) >= 100
            assert reported(hub)["model"]["model"] == "sentiment:1"

            # v2 again, then a restart with the download server gone: the store's copy serves
            hub.call(hub.hub.patch_desired("sentiment", published["v2"]["patch"]))
            wait_applied(hub, published["v2"]["sha256"])
        published["server"].terminate()
        published["server"].wait(20)
        with sentiment_module(hub, packaged_model_dir, tmp_path, MODEL_STORE=str(store)):
            hub.wait_for(
                lambda: (
                    reported_on_loop(hub).get("status") == "running"
                    and reported_on_loop(hub).get("model", {}).get("model") == "sentiment:2"
                ),
                timeout=60,
            )
            status = reported(hub)["model_update"]
            assert status["state"] == "applied"
            assert status["reason"] == "restored from the model store"
            source.command(op="send", output="tweets", body={"text": tweets[0]}, message_id="after-restart")
            source.expect("sent")
            hub.wait_for(
                lambda: any(
                    r.system_properties.get("correlationId") == "after-restart" for r in hub.hub.upstream_since(0)
                ),
                timeout=60,
            )
            last = next(
                r
                for r in hub.run(lambda: hub.hub.upstream_since(0))
                if r.system_properties.get("correlationId") == "after-restart"
            )
            assert last.properties["model"] == "sentiment:2"
            assert json.loads(last.body)["score"] == pytest.approx(expected["sentiment:2"][0], abs=1e-6)
    finally:
        if source is not None:
            source.close()
        hub.stop()
