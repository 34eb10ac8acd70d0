"""The tweet source with the real SDK in the simulator: messages, desired properties, clean SIGTERM."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def _tweetsource_only(manifest: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(manifest)
    content = document["modulesContent"]
    del content["$edgeAgent"]["properties.desired"]["modules"]["sentiment"]
    del content["sentiment"]
    content["$edgeHub"]["properties.desired"]["routes"] = {
        "tweets": "FROM /messages/modules/tweetsource/outputs/tweets INTO $upstream"
    }
    content["tweetsource"]["properties.desired"] = {"rate_per_sec": 200, "loop": False}
    return document


def test_replays_the_bundled_tweets_and_stops_on_sigterm(
    default_manifest: dict[str, Any], repo_root: Path, tmp_path: Path
) -> None:
    from edgesim.testing import run_simulator

    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(_tweetsource_only(default_manifest)), encoding="utf-8")
    expected = [
        json.loads(line)
        for line in (repo_root / "modules" / "tweetsource" / "tweets.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    with run_simulator(path, state_dir=tmp_path / "sim", host="127.0.0.61", modules_dir=repo_root / "modules") as sim:
        records = sim.wait_upstream(count=20, timeout=60)
        bodies = [json.loads(record.body) for record in records]
        assert bodies == [{"text": t["text"], "id": t["id"], "label": t["label"]} for t in expected]
        first = records[0]
        assert first.output == "tweets"
        assert first.properties == {"source": "tweetsource"}
        assert first.system_properties["contentType"] == "application/json"
        assert first.system_properties["contentEncoding"] == "utf-8"
        reported = sim.twin("tweetsource")["reported"]
        assert reported["rate_per_sec"] == 200
        assert reported["loop"] is False
        assert sim.module_state("tweetsource").runtime_status == "running"  # loop off: it stays up
    # Leaving the block stops the modules with SIGTERM; the module must exit at once and cleanly.
    log = (tmp_path / "sim").rglob("*tweetsource*")
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in log if p.is_file())
    assert "sent 20 messages" in text, text[-2000:]
    assert "signal 15: stopping" in text, text[-2000:]
    assert "Traceback" not in text
