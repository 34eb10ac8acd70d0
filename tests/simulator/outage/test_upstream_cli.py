"""``edgeship sim upstream``, ``sim status`` and ``sim monitor`` with a running simulator; the control API routes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.upstream import burst, manifest, start
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

EDGESHIP = [sys.executable, "-m", "edgeship.cli.main", "sim"]


def sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EDGESHIP, *args], capture_output=True, text=True, timeout=60)


def test_cli_takes_the_link_down_and_up_and_monitor_shows_only_the_cloud(tmp_path: Path) -> None:
    state = tmp_path / "sim"
    with start(manifest(tmp_path / "deployment.json", 3600), state, "127.0.32.13") as harness:
        harness.wait_connected("sender", timeout=60)
        offline = sim("upstream", "offline", "--state", str(state))
        assert (offline.returncode, offline.stdout) == (0, "upstream offline: 0 pending, 0 expired\n")
        burst(harness, 0, 4, 0)
        wait_until(lambda: harness.upstream_link()["pending"] == 4, 30, "4 waiting")
        assert sim("monitor", "--json", "--state", str(state)).stdout == ""  # nothing reached the cloud
        status = sim("status", "--json", "--state", str(state))
        assert json.loads(status.stdout)["upstream"] == {
            "link": "offline",
            "pending": 4,
            "expired": 0,
            "delivered_after_outage": 0,
        }
        assert json.loads(status.stdout)["store"]["max_size_bytes"] is None
        table = sim("status", "--state", str(state)).stdout
        assert "upstream offline: 4 pending, 0 expired" in table
        assert "no limit" in table
        shown = sim("upstream", "status", "--json", "--state", str(state))
        assert json.loads(shown.stdout)["pending"] == 4
        online = sim("upstream", "online", "--state", str(state))
        assert online.returncode == 0
        assert online.stdout.startswith("upstream online")
        harness.wait_upstream(4, timeout=30)
        lines = sim("monitor", "--json", "--state", str(state)).stdout.splitlines()
        assert [json.loads(line)["body"]["n"] for line in lines] == [0, 1, 2, 3]

        url = harness.control_url
        assert requests.get(f"{url}/v1/upstream/link", timeout=10).json()["link"] == "online"
        assert requests.get(f"{url}/v1/upstream/offline", timeout=10).status_code == 405
        assert requests.post(f"{url}/v1/upstream/link", timeout=10).status_code == 405
        assert requests.post(f"{url}/v1/upstream/sideways", timeout=10).status_code == 404
        assert harness.upstream_link()["link"] == "online"  # none of the refused requests changed it


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    missing = sim("upstream", "offline", "--state", str(tmp_path / "none"))
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: no simulator running")
    assert missing.stderr.count("\n") == 1
    bad = sim("upstream", "sideways", "--state", str(tmp_path / "none"))
    assert bad.returncode == 2
    assert "sideways" in bad.stderr
