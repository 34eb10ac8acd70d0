"""A composed deployment runs in the simulator: the layer's route and desired properties reach a real SDK module."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edgeship.manifest import AtScale, deployment_document

pytestmark = pytest.mark.integration


def test_composed_deployment_runs_in_the_simulator(
    default_manifest: dict[str, Any], repo_root: Path, tmp_path: Path
) -> None:
    from edgesim.testing import run_simulator

    # The base runs the tweet source slowly, looping, with no route; the layer (what `generate
    # --at-scale --layered` writes) adds the route to $upstream and changes two desired properties.
    manifest = copy.deepcopy(default_manifest)
    content = manifest["modulesContent"]
    del content["$edgeAgent"]["properties.desired"]["modules"]["sentiment"]
    del content["sentiment"]
    content["$edgeHub"]["properties.desired"]["routes"] = {}
    content["tweetsource"]["properties.desired"] = {"rate_per_sec": 1, "loop": True}
    base = deployment_document(manifest, AtScale("tags.site = 'lab'", 10, "lab"))
    layer_source = {
        "modulesContent": {
            "$edgeAgent": {"properties.desired": {}},
            "$edgeHub": {
                "properties.desired": {
                    "routes": {"tweets": "FROM /messages/modules/tweetsource/outputs/tweets INTO $upstream"}
                }
            },
            "tweetsource": {"properties.desired": {"rate_per_sec": 200, "loop": False}},
        }
    }
    layer = deployment_document(layer_source, AtScale("tags.fast = true", 20, "fast", layered=True))
    paths = []
    for name, document in (("base.json", base), ("layer.json", layer)):
        (tmp_path / name).write_text(json.dumps(document), encoding="utf-8")
        paths.append(str(tmp_path / name))
    composed = tmp_path / "composed.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeship",
            "manifest",
            "compose",
            *paths,
            "--tags",
            '{"site": "lab", "fast": true}',
            "--out",
            str(composed),
        ],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with run_simulator(
        composed, state_dir=tmp_path / "sim", host="127.0.0.118", modules_dir=repo_root / "modules"
    ) as sim:
        records = sim.wait_upstream(count=20, timeout=60)
        assert len(records) == 20
        assert {record.output for record in records} == {"tweets"}
        reported = sim.twin("tweetsource")["reported"]
        assert reported["rate_per_sec"] == 200
        assert reported["loop"] is False
