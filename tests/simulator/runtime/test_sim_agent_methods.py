"""edgeAgent's built-in direct methods on ``$edgeAgent`` and the Prometheus metrics, on a running
simulator with real SDK modules (``agentmods/talker``, ``agentmods/quiet``)."""

from __future__ import annotations

import base64
import gzip
import json
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgesim.agent import BackoffConfig
from edgesim.testing import SimulatorHarness, run_simulator
from tests.support.agent import AGENT_MODULES, unique_host

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHarness]:
    with run_simulator(
        AGENT_MODULES / "deployment.json",
        state_dir=tmp_path_factory.mktemp("sim"),
        host=unique_host(),
        modules_dir=AGENT_MODULES,
        backoff=BackoffConfig(cool_off_unit_secs=0.1),
        stop_grace_secs=5,
    ) as harness:
        harness.wait_connected()
        yield harness


def _wait_log(sim: SimulatorHarness, module: str, text: str, count: int = 1) -> None:
    """The module's log holds ``text`` ``count`` times (a module prints after it connects)."""
    deadline = time.monotonic() + 30
    while sim.logs(module).count(text) < count:
        assert time.monotonic() < deadline, f"{module} never logged {text!r} {count} times: {sim.logs(module)!r}"
        time.sleep(0.05)  # polling a file the module writes; bounded by the deadline


def _logs(sim: SimulatorHarness, **request: Any) -> list[dict[str, Any]]:
    status, payload = sim.invoke("$edgeAgent", "GetModuleLogs", {"schemaVersion": "1.0", **request}, timeout=30)
    assert status == 200, payload
    assert isinstance(payload, list)
    return payload


def _metrics(sim: SimulatorHarness) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(sim.status()["metrics_url"], timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    found = [value for (sample, have), value in metrics.items() if sample == name and set(labels.items()) <= set(have)]
    assert found, f"no {name} with {labels}"
    return sum(found)


def test_ping_and_unknown_methods(sim: SimulatorHarness) -> None:
    assert sim.invoke("$edgeAgent", "ping", {}) == (200, None)
    assert sim.invoke("$edgeAgent", "PING", None) == (200, None)  # edgeAgent ignores the case of names
    status, payload = sim.invoke("$edgeAgent", "reboot", {})
    assert status == 400
    assert "not found" in payload["message"]


def test_a_module_calls_another_through_the_gateway_signed_by_the_workload_api(sim: SimulatorHarness) -> None:
    _wait_log(sim, "quiet", "quiet started")
    status, payload = sim.invoke("quiet", "relay", {"module": "talker", "method": "hello", "payload": [1, 2]})
    assert (status, payload) == (200, {"status": 200, "payload": {"talker": [1, 2]}})
    status, payload = sim.invoke("quiet", "relay", {"module": "nobody", "method": "hello"})
    assert status == 500
    assert "404" in payload["error"]


def test_get_module_logs_applies_the_filters(sim: SimulatorHarness) -> None:
    _wait_log(sim, "talker", "talker line without a level")
    [everything] = _logs(sim, items=[{"id": "talker"}])
    assert everything["id"] == "talker"
    assert "<6> talker started" in everything["payload"]
    [errors] = _logs(sim, items=[{"id": "talker", "filter": {"loglevel": 3}}])
    assert errors["payload"] == "<3> talker error: nothing is wrong, this is a level 3 line\n"
    [level6] = _logs(sim, items=[{"id": "^TALK", "filter": {"loglevel": 6, "regex": "started"}}])
    assert level6["payload"].count("\n") == 1
    assert level6["payload"].startswith("<6> talker started pid ")
    [tail] = _logs(sim, items=[{"id": "talker", "filter": {"tail": 2}}])
    assert tail["payload"].splitlines() == everything["payload"].splitlines()[-2:]
    both = _logs(sim, items=[{"id": "all", "filter": {"tail": 1}}])
    assert [item["id"] for item in both] == ["quiet", "talker"]
    [none] = _logs(sim, items=[{"id": "talker", "filter": {"until": "2000-01-01T00:00:00Z"}}])
    assert none["payload"] == ""
    [zipped] = _logs(sim, items=[{"id": "talker", "filter": {"loglevel": 3}}], encoding="gzip", contentType="json")
    records = json.loads(gzip.decompress(base64.b64decode(str(zipped["payloadBytes"]))))
    assert [(r["id"], r["loglevel"], r["text"]) for r in records] == [
        ("talker", 3, "talker error: nothing is wrong, this is a level 3 line")
    ]
    status, payload = sim.invoke(
        "$edgeAgent", "GetModuleLogs", {"schemaVersion": "1.0", "items": [{"id": "talker", "filter": {"tail": -1}}]}
    )
    assert (status, "tail" in payload["message"]) == (400, True)
    status, payload = sim.invoke("$edgeAgent", "GetModuleLogs", {"schemaVersion": "1.0"})
    assert (status, "items" in payload["message"]) == (400, True)


def test_restart_module_restarts_one_module(sim: SimulatorHarness) -> None:
    _wait_log(sim, "talker", "talker started pid")
    before, quiet_before = sim.module_state("talker"), sim.module_state("quiet")
    between = time.time()
    _wait_log(sim, "quiet", "quiet started")
    assert sim.invoke("$edgeAgent", "RestartModule", {"schemaVersion": "1.0", "id": "talker"}) == (200, None)
    after = sim.wait_module("talker", lambda s: s.runtime_status == "running" and s.pid != before.pid)
    assert after.pid is not None
    assert after.pid != before.pid
    assert after.restart_count == before.restart_count + 1
    assert after.starts == before.starts + 1
    assert sim.module_state("quiet").pid == quiet_before.pid  # only the one named
    assert sim.twin("$edgeAgent")["reported"]["modules"]["talker"]["restartCount"] == after.restart_count
    _wait_log(sim, "talker", "talker started pid", count=2)
    # since: only the lines of the new run (a line's time is that of its run's start)
    [recent] = _logs(sim, items=[{"id": "talker", "filter": {"since": str(between), "regex": "started"}}])
    assert recent["payload"].splitlines() == [f"<6> talker started pid {after.pid}"]
    assert sim.invoke("$edgeAgent", "RestartModule", {"schemaVersion": "1.0", "id": "ghost"})[0] == 500
    assert sim.invoke("$edgeAgent", "RestartModule", {"schemaVersion": "1.0"})[0] == 400


def test_uploads_work_against_a_local_directory_and_fail_elsewhere(sim: SimulatorHarness, tmp_path: Path) -> None:
    _wait_log(sim, "quiet", "quiet started")

    def wait_task(correlation_id: str) -> dict[str, str]:
        deadline = time.monotonic() + 30
        while True:
            status, payload = sim.invoke(
                "$edgeAgent", "GetTaskStatus", {"schemaVersion": "1.0", "correlationId": correlation_id}
            )
            assert status == 200
            if payload["status"] not in ("NotStarted", "Running"):
                return dict(payload)
            assert time.monotonic() < deadline, payload
            time.sleep(0.05)  # the task runs on a worker thread; polled as a client would, bounded

    status, started = sim.invoke(
        "$edgeAgent",
        "UploadModuleLogs",
        {
            "schemaVersion": "1.0",
            "sasUrl": tmp_path.as_uri(),
            "items": [{"id": "quiet"}],
            "encoding": "none",
            "contentType": "text",
        },
    )
    assert status == 200
    assert started["status"] == "Running"
    assert wait_task(started["correlationId"])["status"] == "Completed"
    [uploaded] = list(tmp_path.glob("*quiet*.log"))
    assert "<6> quiet started" in uploaded.read_text()
    status, bundle = sim.invoke(
        "$edgeAgent", "UploadSupportBundle", {"schemaVersion": "1.0", "sasUrl": tmp_path.as_uri()}
    )
    assert wait_task(bundle["correlationId"])["status"] == "Completed"
    [archive] = list(tmp_path.glob("support_bundle-*.zip"))
    assert {"status.json", "logs/quiet.log", "logs/talker.log"} <= set(zipfile.ZipFile(archive).namelist())
    status, remote = sim.invoke(
        "$edgeAgent",
        "UploadModuleLogs",
        {
            "schemaVersion": "1.0",
            "sasUrl": "https://example.blob.core.windows.net/logs?sig=x",
            "items": [{"id": "all"}],
        },
    )
    failed = wait_task(remote["correlationId"])
    assert failed["status"] == "Failed"
    assert "no network" in failed["message"]
    assert (
        sim.invoke("$edgeAgent", "GetTaskStatus", {"schemaVersion": "1.0", "correlationId": "nope"})[1]["status"]
        == "Unknown"
    )


def test_the_metrics_endpoint_counts_what_was_sent(sim: SimulatorHarness) -> None:
    before = _metrics(sim)
    received = (
        _value(before, "edgehub_messages_received_total", id="edgesim-device/talker", route_output="out")
        if any(k[0] == "edgehub_messages_received_total" for k in before)
        else 0.0
    )
    last = sim.upstream()[-1].seq if sim.upstream() else 0
    for n in range(5):
        sim.send("talker", "in", {"n": n})
    sim.wait_upstream(count=5, since=last)
    after = _metrics(sim)
    assert (
        _value(after, "edgehub_messages_received_total", id="edgesim-device/talker", route_output="out") == received + 5
    )
    assert (
        _value(after, "edgehub_messages_sent_total", to="upstream", **{"from": "edgesim-device/talker"}) == received + 5
    )
    assert _value(after, "edgehub_messages_sent_total", to="edgesim-device/talker", to_route_input="in") >= 5
    assert _value(after, "edgehub_message_send_duration_seconds_count", to="edgesim-device/talker") >= 5
    assert _value(after, "edgehub_connected_clients") == 2
    starts = _value(after, "edgeAgent_module_start_total", module_name="talker", module_version="2.0")
    assert starts == sim.module_state("talker").starts
    assert _value(after, "edgeAgent_total_time_running_correctly_seconds", module_name="quiet") > 0
    assert _value(after, "edgeAgent_direct_method_invocations_count", method_name="ping") >= 1
    assert {
        label for (name, labels), _ in after.items() if name == "edgehub_connected_clients" for label in labels
    } >= {("iothub", "edgesim.azure-devices.net"), ("edge_device", "edgesim-device")}
