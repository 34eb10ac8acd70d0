"""The sentiment image, built offline on the stand-in base: non-root, healthy, nothing but the runtime."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from edgeship.images.build import BuiltImage
from tests.support.dockerkit import Registry
from tests.support.ports import free_port
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.integration]


def run_in(client: Any, image: str, script: str) -> str:
    output: bytes = client.containers.run(image, ["python", "-c", script], remove=True, network_mode="none")
    return output.decode()


def test_standin_base_has_python_and_pip_on_the_path(docker_client: Any, standin_amd64: str) -> None:
    out = docker_client.containers.run(
        standin_amd64, ["sh", "-c", "python --version && pip --version && id -u"], remove=True, network_mode="none"
    ).decode()
    assert out.startswith("Python 3.11.")
    assert "pip " in out
    assert out.split()[-1] == "0"
    result = subprocess.run(
        [sys.executable, "-m", "edgeship", "image", "base"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == standin_amd64  # reused by tag, not made again
    assert result.stderr.startswith("reused ")


def test_sentiment_image_runs_non_root_without_toolkit_or_tensorflow(
    docker_client: Any, sentiment_amd64: BuiltImage
) -> None:
    image = docker_client.images.get(sentiment_amd64.tag)
    assert sentiment_amd64.size_bytes == image.attrs["Size"] > 50_000_000
    print(
        f"\nsentiment image {sentiment_amd64.tag}: {sentiment_amd64.size_bytes / 1e6:.0f} MB, "
        f"built in {sentiment_amd64.seconds:.0f} s"
    )
    assert image.attrs["Config"]["User"] == "10001"
    # One container for every check: with vfs storage each container is a full copy of the image.
    script = (
        "import importlib.util, json, os, subprocess; "
        "found = [m for m in ('tensorflow', 'tf_keras', 'keras', 'tf2onnx', 'edgeship', 'edgesim', 'gensim', "
        "'onnxruntime', 'edgeship_sentiment') if importlib.util.find_spec(m)]; "
        "files = subprocess.run(['find', '/', '-xdev', '(', '-iname', 'tensorflow*', '-o', '-iname', 'edgesim*', "
        "'-o', '-iname', 'edgeship', '-o', '-iname', 'keras*', ')', '-print'], capture_output=True, text=True).stdout; "
        "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'modules': found, 'files': files.split()}))"
    )
    report = json.loads(run_in(docker_client, sentiment_amd64.tag, script))
    assert (report["uid"], report["gid"]) == (10001, 10001)
    assert report["modules"] == ["onnxruntime", "edgeship_sentiment"]
    assert report["files"] == []


def test_healthcheck_reaches_healthy_on_the_manifest_port(docker_client: Any, sentiment_amd64: BuiltImage) -> None:
    port = free_port()
    container = docker_client.containers.run(
        sentiment_amd64.tag, detach=True, network_mode="host", environment={"HTTP_BIND": f"127.0.0.1:{port}"}
    )
    try:

        def health() -> str | None:
            container.reload()
            status = container.attrs["State"].get("Health", {}).get("Status")
            return status if status in ("healthy", "unhealthy") else None

        assert wait_until(health, 120, "the HEALTHCHECK's verdict", interval=0.5) == "healthy"
        answer = requests.post(f"http://127.0.0.1:{port}/score", json={"text": "what a wonderful day"}, timeout=10)
        assert answer.status_code == 200
        assert answer.json()["label"] in ("POSITIVE", "NEGATIVE", "NEUTRAL")
    finally:
        container.remove(force=True)


def test_build_cli_json_and_push_with_env_credentials(
    docker_client: Any, sentiment_amd64: BuiltImage, registry: Registry, tmp_path: Path
) -> None:
    # sentiment_amd64 came from `edgeship build --json`: its record is the engine's image.
    assert sentiment_amd64.platform == "amd64"
    assert sentiment_amd64.tag == f"{registry.address}/sentiment:0.1.0-amd64"
    assert sentiment_amd64.size_bytes == docker_client.images.get(sentiment_amd64.tag).attrs["Size"]

    wrong = tmp_path / "wrong"
    wrong.mkdir()
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeship",
            "push",
            sentiment_amd64.tag,
            "--env",
            str(registry.env_file(wrong, password="not-the-password")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: "), refused.stderr
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert registry.tags("sentiment") == []

    pushed = subprocess.run(
        [sys.executable, "-m", "edgeship", "push", sentiment_amd64.tag, "--env", str(registry.env_file(tmp_path))],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.startswith(f"pushed {sentiment_amd64.tag} sha256:")
    assert registry.tags("sentiment") == ["0.1.0-amd64"]
