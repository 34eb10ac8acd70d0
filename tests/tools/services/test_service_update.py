"""`edgeship service update NAME -m NAME:VERSION` on a running LOCAL service: the model swaps, no restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from edgeship_sentiment.model import load_model_folder
from edgeship_sentiment.scorer import Engine

pytestmark = [pytest.mark.slow, pytest.mark.integration]
TEXTS = ["Today is a great day!", "worst service ever", "it is a phone"]


def edgeship(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeship", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "EDGESHIP_HOME": str(home)},
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path, small_model_dir: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    for expected in ("sentiment:1", "sentiment:2"):
        result = edgeship(home, "model", "register", str(small_model_dir), "-n", "sentiment")
        assert result.stdout == f"{expected}\n", result.stderr
    yield home
    for service in json.loads(edgeship(home, "service", "list", "--json").stdout or "[]"):
        edgeship(home, "service", "delete", service["name"])


def test_update_swaps_the_model_of_a_running_local_service(home: Path, tmp_path: Path) -> None:
    deployed = edgeship(home, "deploy", "-n", "svc", "-m", "sentiment:1", "--json")
    assert deployed.returncode == 0, deployed.stderr[-2000:]
    record = json.loads(deployed.stdout.strip().splitlines()[-1])
    base = record["scoring_uri"].rsplit("/", 1)[0]
    assert requests.get(f"{base}/health", timeout=10).json()["model"] == "sentiment:1"
    pid = json.loads(edgeship(home, "service", "show", "svc").stdout)["pid"]

    missing = edgeship(home, "service", "update", "svc", "-m", "sentiment:9")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ")
    assert "sentiment:9" in missing.stderr
    assert "Traceback" not in missing.stderr

    updated = edgeship(home, "service", "update", "svc", "-m", "sentiment:2", "--quantize", "int8")
    assert updated.returncode == 0, updated.stderr[-2000:]
    assert updated.stdout == "svc now serves sentiment:2\n"
    assert requests.get(f"{base}/health", timeout=10).json()["model"] == "sentiment:2"
    shown = json.loads(edgeship(home, "service", "show", "svc").stdout)
    assert shown["model"] == "sentiment:2"
    assert shown["pid"] == pid  # the same process: swapped, not restarted

    # the scores are the int8 package's, as that package scores them on its own
    folder = home / "services" / "svc"
    status = json.loads((folder / "model-store" / "status.json").read_text())
    assert status["state"] == "applied"
    with tarfile.open(folder / "published" / "sha256" / f"{status['sha256']}.tar.gz") as tar:
        tar.extractall(tmp_path / "v2", filter="data")
    engine = Engine.load(load_model_folder(tmp_path / "v2"))
    for text in TEXTS:
        response = requests.post(
            record["scoring_uri"],
            data=json.dumps({"text": text}),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert response.headers["x-model-version"] == "sentiment:2"
        body = response.json()
        assert body["score"] == pytest.approx(float(engine.raw_scores([text])[0]), abs=1e-6)
