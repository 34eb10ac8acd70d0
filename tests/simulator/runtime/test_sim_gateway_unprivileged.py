"""Without root (or CAP_NET_BIND_SERVICE) the simulator starts without its 443 listener and says,
in one line, which features are off. Run for real: ``edgeship sim start`` under ``setpriv`` with
CAP_NET_BIND_SERVICE dropped from its bounding set (so even root cannot bind 443)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.agent import AGENT_MODULES, unique_host

pytestmark = pytest.mark.integration

EDGESHIP = [sys.executable, "-m", "edgeship.cli.main"]
SETPRIV = shutil.which("setpriv")
UNPRIVILEGED = [SETPRIV or "setpriv", "--bounding-set", "-net_bind_service", "--inh-caps", "-net_bind_service", "--"]


@pytest.mark.skipif(SETPRIV is None, reason="setpriv (util-linux) is not installed")
def test_without_privilege_the_gateway_is_off_and_said_so(tmp_path: Path) -> None:
    manifest = json.loads((AGENT_MODULES / "deployment.json").read_text())
    manifest["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"] = {}
    (tmp_path / "deployment.json").write_text(json.dumps(manifest))
    state, host = tmp_path / "state", unique_host()
    simulator = subprocess.Popen(
        [
            *UNPRIVILEGED,
            *EDGESHIP,
            "sim",
            "start",
            str(tmp_path / "deployment.json"),
            "--host",
            host,
            "--state",
            str(state),
            "--modules-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert simulator.stdout is not None
        assert simulator.stderr is not None
        running = simulator.stdout.readline()
        assert running.startswith("edgesim running:"), (running, simulator.stderr.read())
        status = subprocess.run(
            [*EDGESHIP, "sim", "status", "--json", "--state", str(state)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        result = json.loads(status.stdout)
        assert result["gateway_port"] is None
        assert "443" in result["gateway_error"]
        assert result["hub_port"] == 8883  # the MQTT listener on 8883 is there: unprivileged ports stay
        subprocess.run(
            [*EDGESHIP, "sim", "stop", "--state", str(state)], capture_output=True, text=True, timeout=60, check=True
        )
        assert simulator.wait(60) == 0
        stderr = simulator.stderr.read()
        assert [line for line in stderr.splitlines() if "443" in line] == [
            "warning: port 443 needs root or CAP_NET_BIND_SERVICE: module-to-module methods, methods on leaf "
            "devices and MQTT over WebSockets are off"
        ], stderr
    finally:
        if simulator.poll() is None:
            simulator.kill()
            simulator.wait()
