"""The control API and the Python harness/fixture, with the real hub and two real SDK modules."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration
if not hasattr(pytest.importorskip("edgesim.hub"), "Hub"):
    pytest.skip("edgesim.hub.Hub has not landed yet", allow_module_level=True)

from edgesim.agent import BackoffConfig  # noqa: E402
from edgesim.pytest_plugin import edgesim_factory  # noqa: E402, F401 -- the fixture, as users import it
from edgesim.testing import SimulatorHarness  # noqa: E402

MODULES = Path(__file__).parent / "modules"
HOST = "127.0.31.2"


@pytest.fixture
def harness(edgesim_factory: Any) -> SimulatorHarness:  # noqa: F811
    sim: SimulatorHarness = edgesim_factory(
        MODULES / "deployment.json",
        host=HOST,
        modules_dir=MODULES,
        backoff=BackoffConfig(cool_off_unit_secs=0.1),
        stop_grace_secs=5,
    )
    sim.wait_connected("alpha", "beta", timeout=60)
    return sim


def test_control_api_sends_monitors_and_refuses_bad_requests(harness: SimulatorHarness) -> None:
    url = harness.control_url
    compat = requests.post(
        f"{url}/api/v1/messages",
        params={"module": "alpha"},
        timeout=10,
        json={"inputName": "in", "data": json.dumps({"text": "compat"}), "messageId": "m-1"},
    )
    assert (compat.status_code, compat.json()) == (202, {"message": "accepted"})
    [record] = harness.wait_upstream(1, timeout=30)
    assert json.loads(record.body)["inner"]["got"] == {"text": "compat"}
    assert (record.module, record.output) == ("beta", "up")

    ours = requests.post(
        f"{url}/v1/modules/alpha/inputs/in", json={"body": {"n": 2}, "properties": {"p": "q"}}, timeout=10
    )
    assert ours.status_code == 202
    polled = requests.get(f"{url}/v1/upstream", params={"since": record.seq, "wait": 30}, timeout=40).json()
    assert polled["last_seq"] > record.seq
    assert json.loads(polled["records"][0]["body"])["inner"]["got"] == {"n": 2}
    empty = requests.get(f"{url}/v1/upstream", params={"since": polled["last_seq"], "wait": 0.2}, timeout=10).json()
    assert empty == {"records": [], "last_seq": polled["last_seq"]}

    ambiguous = requests.post(f"{url}/api/v1/messages", json={"inputName": "in", "data": "x"}, timeout=10)
    assert ambiguous.status_code == 400
    assert "module" in ambiguous.json()["message"]
    assert requests.post(f"{url}/v1/modules/ghost/inputs/in", json={"body": 1}, timeout=10).status_code == 404
    assert requests.post(f"{url}/v1/modules/alpha/inputs/in", data="{nope", timeout=10).status_code == 400
    assert requests.post(f"{url}/v1/modules/alpha/inputs/in", json={"nobody": 1}, timeout=10).status_code == 400
    assert requests.get(f"{url}/v1/modules/alpha/inputs/in", timeout=10).status_code == 405
    assert requests.get(f"{url}/v1/nothing", timeout=10).status_code == 404
    big = requests.post(f"{url}/v1/modules/alpha/inputs/in", json={"data": "x" * (256 * 1024 + 1)}, timeout=10)
    assert big.status_code == 413


def test_methods_twins_and_no_key_in_any_answer(harness: SimulatorHarness) -> None:
    url = harness.control_url
    assert harness.invoke("alpha", "echo", {"a": 1}, timeout=10) == (200, {"echo": {"a": 1}, "module": "alpha"})
    slow = requests.post(f"{url}/v1/modules/alpha/methods/slow", json={"payload": {}, "timeout": 0.5}, timeout=10)
    assert slow.json()["status"] == 504
    twin = requests.patch(f"{url}/v1/modules/alpha/twin", json={"desired": {"mode": "fast"}}, timeout=10).json()
    assert twin["desired"]["mode"] == "fast"
    agent_twin = requests.get(f"{url}/v1/modules/$edgeAgent/twin", timeout=10).json()
    assert agent_twin["reported"]["modules"]["alpha"]["runtimeStatus"] == "running"
    assert agent_twin["reported"]["modules"]["beta"]["restartPolicy"] == "on-failure"
    answers = [
        requests.get(f"{url}/v1/status", timeout=10).text,
        json.dumps(agent_twin),
        requests.get(f"{url}/v1/modules/alpha/logs", timeout=10).text,
        requests.get(f"{url}/v1/modules/beta/twin", timeout=10).text,
    ]
    log_files = [path.read_text() for path in (harness.simulator.state_dir / "logs").iterdir()]
    for key in harness.simulator.hub.config.identities.values():  # the secret itself, as the hub checks it
        assert all(key not in text for text in answers + log_files)


def test_killed_module_is_restarted_and_reconnects(harness: SimulatorHarness) -> None:
    before = harness.module_state("alpha")
    assert before.pid is not None
    os.kill(before.pid, signal.SIGKILL)
    after = harness.wait_module("alpha", lambda s: s.starts == 2 and s.runtime_status == "running", timeout=30)
    assert after.restart_count == 1
    assert after.exit_code == -9
    harness.wait_connected("alpha", timeout=60)
    harness.send("alpha", "in", {"after": "restart"})
    [record] = harness.wait_upstream(1, where=lambda r: b"restart" in r.body, timeout=30)
    assert json.loads(record.body)["inner"]["got"] == {"after": "restart"}
