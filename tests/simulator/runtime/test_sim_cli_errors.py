"""`edgeship sim` errors that need no running simulator: one line, exit 1 (or 2 for usage)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EDGESHIP = [sys.executable, "-m", "edgeship.cli.main"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EDGESHIP, "sim", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["monitor"],
        ["stop"],
        ["twin", "m"],
        ["logs", "m"],
        ["invoke", "m", "x", "{}"],
        ["send", "m", "i", "{}"],
    ],
)
def test_no_simulator_is_one_line_exit_1(tmp_path: Path, command: list[str]) -> None:
    result = run(*command, "--state", str(tmp_path / "none"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: no simulator running")


def test_stale_state_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "sim.json").write_text('{"control_url": "http://127.0.0.1:9", "pid": 999999999, "host": "127.0.0.1"}')
    result = run("status", "--state", str(tmp_path))
    assert result.returncode == 1
    assert "is gone" in result.stderr


def test_bad_manifest_and_bad_json_arguments(tmp_path: Path) -> None:
    manifest = tmp_path / "deployment.json"
    manifest.write_text('{"modulesContent": {}}')
    result = run("start", str(manifest), "--host", "127.0.31.9", "--state", str(tmp_path / "s"))
    assert result.returncode == 1
    assert result.stderr.strip() == "error: deployment.json.modulesContent.$edgeAgent: missing"
    bad_host = run("start", str(manifest), "--host", "not-an-ip", "--state", str(tmp_path / "s"))
    assert bad_host.returncode == 2
    assert "not an IP address" in bad_host.stderr
    bad_json = run("send", "m", "i", "{oops", "--state", str(tmp_path / "s"))
    assert bad_json.returncode == 2
    assert "not valid JSON" in bad_json.stderr


def test_docker_runtime_without_an_engine_is_one_clear_line(tmp_path: Path, repo_root: Path) -> None:
    manifest = Path(__file__).parent / "modules" / "deployment.json"
    result = subprocess.run(
        [
            *EDGESHIP,
            "sim",
            "start",
            str(manifest),
            "--runtime",
            "docker",
            "--host",
            "127.0.31.8",
            "--state",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: no reachable Docker engine for --runtime docker")
    assert result.stderr.strip().count("\n") == 0
