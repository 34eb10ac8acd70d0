"""End to end through the CLI: `edgeship sim start` a manifest with two unmodified SDK modules
(alpha -> beta -> $upstream), then send, monitor, invoke, twin, status, logs and stop."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeship.simclient import SimClient

pytestmark = pytest.mark.integration
if not hasattr(pytest.importorskip("edgesim.hub"), "Hub"):
    pytest.skip("edgesim.hub.Hub has not landed yet", allow_module_level=True)

MODULES = Path(__file__).parent / "modules"
HOST = "127.0.31.1"
EDGESHIP = [sys.executable, "-m", "edgeship.cli.main"]


def sim(state: Path, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*EDGESHIP, "sim", *args, "--state", str(state)], capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"edgeship sim {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError("no output from edgeship sim start")
    return process.stdout.readline()


def pid_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    state = tmp_path / "state"
    process = subprocess.Popen(
        [
            *EDGESHIP,
            "sim",
            "start",
            str(MODULES / "deployment.json"),
            "--host",
            HOST,
            "--state",
            str(state),
            "--modules-dir",
            str(MODULES),
            "--backoff-unit",
            "0.2",
            "--stop-grace",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = read_line(process, 60)
        assert line.startswith("edgesim running"), line + (
            process.stderr.read() if process.poll() is not None and process.stderr else ""
        )
        yield state, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def wait_upstream(client: SimClient, count: int, since: int = 0, timeout: float = 30) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    seq = since
    while len(found) < count:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {len(found)} of {count} upstream messages arrived"
        records, seq = client.upstream(seq, wait=min(remaining, 10))
        found += records
    return found


def test_cli_round_trip_with_real_sdk_modules(running: tuple[Path, subprocess.Popen[str]]) -> None:
    state, process = running
    client = SimClient.from_state_dir(state)
    # alpha reports "started" once connected and its twin was read: the reported property is our signal.
    deadline = time.monotonic() + 60
    while not client.twin("alpha").get("reported", {}).get("started"):
        assert time.monotonic() < deadline, sim(state, "logs", "alpha").stdout
        time.sleep(0.1)  # polling another process's state through the API: there is no event to wait on
    assert client.twin("alpha")["reported"]["initial"] == "hello from the manifest"

    status = json.loads(sim(state, "status", "--json").stdout)
    runtime = {name: module["runtimeStatus"] for name, module in status["modules"].items()}
    assert runtime == {"alpha": "running", "beta": "running"}
    module_pids = [m["pid"] for m in status["modules"].values()]

    sent = sim(state, "send", "alpha", "in", '{"text": "hi"}', "--property", "k=v")
    assert "sent" in sent.stdout
    [record] = wait_upstream(client, 1)
    lines = [json.loads(line) for line in sim(state, "monitor", "--json").stdout.splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert (line["module"], line["output"]) == ("beta", "up")
    assert line["body"] == {"from": "beta", "inner": {"from": "alpha", "got": {"text": "hi"}}}
    assert line["properties"]["k"] == "v"
    assert line["properties"]["sender"] == "alpha"

    invoked = json.loads(sim(state, "invoke", "alpha", "echo", '{"x": 1}').stdout)
    assert invoked == {"status": 200, "payload": {"echo": {"x": 1}, "module": "alpha"}}
    slow = json.loads(sim(state, "invoke", "alpha", "slow", "{}", "--timeout", "1").stdout)
    assert slow["status"] == 504

    patched = json.loads(sim(state, "twin", "alpha", "--patch", '{"threshold": 0.5}').stdout)
    assert patched["desired"]["threshold"] == 0.5
    assert patched["desired"]["greeting"] == "hello from the manifest"
    [patch_note] = wait_upstream(client, 1, since=record["seq"])
    assert json.loads(patch_note["body"])["inner"]["desired_patch"]["threshold"] == 0.5
    twin = json.loads(sim(state, "twin", "alpha").stdout)
    assert twin["reported"]["applied"] == {"threshold": 0.5}
    beta_twin = json.loads(sim(state, "twin", "beta").stdout)
    assert "threshold" not in beta_twin["desired"]

    assert "alpha got {'text': 'hi'} on in" in sim(state, "logs", "alpha").stdout
    bad = sim(state, "send", "ghost", "in", "{}", check=False)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error:")
    assert "ghost" in bad.stderr

    assert sim(state, "stop").stdout.strip() == "stopped"
    assert process.wait(30) == 0
    for pid in module_pids:
        assert pid_gone(pid)
    assert not (state / "sim.json").exists()
    gone = sim(state, "status", check=False)
    assert gone.returncode == 1
    assert "no simulator running" in gone.stderr


def test_sigterm_stops_everything(running: tuple[Path, subprocess.Popen[str]]) -> None:
    state, process = running
    status = SimClient.from_state_dir(state).status()
    pids = [m["pid"] for m in status["modules"].values()]
    assert all(isinstance(pid, int) for pid in pids)
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(30) == 0
    for pid in pids:
        assert pid_gone(pid)
