"""Leaf devices through the CLI: ``sim device add/list/remove``, ``sim c2d``, ``sim invoke``, ``sim twin``,
with a real ``IoTHubDeviceClient`` using the printed connection string and CA; identities and queued
cloud-to-device messages survive a restart of the simulator."""

from __future__ import annotations

import json
import queue
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from edgesim.testing import run_simulator
from tests.support.agent import AGENT_MODULES, unique_host
from tests.support.hub import EDGE_PEER

pytestmark = pytest.mark.integration

EDGESHIP = [sys.executable, "-m", "edgeship.cli.main"]


def edgeship(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EDGESHIP, "sim", *args, "--state", str(state)], capture_output=True, text=True, timeout=120, check=False
    )


class Device:
    """edgepeer.py as a leaf device, from a connection string and CA file as `sim device add` prints them."""

    def __init__(self, connection_string: str, ca_cert: str, *flags: str) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, str(EDGE_PEER), "device", connection_string, ca_cert, *flags],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.seen: list[dict[str, Any]] = []

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put(json.loads(line))
        self.events.put({"event": "eof"})

    def expect(self, event: str, timeout: float = 30) -> dict[str, Any]:
        for index, item in enumerate(self.seen):
            if item["event"] == event:
                return self.seen.pop(index)
        while True:
            item = self.events.get(timeout=timeout)
            if item["event"] == event:
                return item
            assert item["event"] not in ("error", "eof"), item
            self.seen.append(item)

    def command(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        if self.process.poll() is None:
            self.command(op="exit")
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def test_leaf_device_lifecycle_through_the_cli(tmp_path: Path) -> None:
    state, host = tmp_path / "sim", unique_host()
    devices: list[Device] = []
    try:
        with run_simulator(
            AGENT_MODULES / "deployment.json", state_dir=state, host=host, modules_dir=AGENT_MODULES, stop_grace_secs=5
        ) as sim:
            sim.wait_connected()
            added = edgeship(state, "device", "add", "sensor-1", "--json")
            assert added.returncode == 0, added.stderr
            info = json.loads(added.stdout)
            assert set(info) == {"device_id", "connection_string", "ca_cert"}
            assert info["device_id"] == "sensor-1"
            parts = dict(part.split("=", 1) for part in info["connection_string"].split(";"))
            assert (parts["HostName"], parts["DeviceId"], parts["GatewayHostName"]) == (
                "edgesim.azure-devices.net",
                "sensor-1",
                host,
            )
            assert Path(info["ca_cert"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
            assert stat.S_IMODE((state / "devices.json").stat().st_mode) == 0o600

            device = Device(info["connection_string"], info["ca_cert"])
            devices.append(device)
            device.expect("ready")
            listed = json.loads(edgeship(state, "device", "list", "--json").stdout)
            assert [(d["device_id"], d["connected"]) for d in listed] == [("sensor-1", True)]

            device.command(op="send", body={"temp": 21.5}, properties={"unit": "C"})
            device.expect("sent")
            [record] = sim.wait_upstream(
                count=1, where=lambda r: r.system_properties.get("connectionDeviceId") == "sensor-1"
            )
            assert "connectionModuleId" not in record.system_properties
            assert (json.loads(record.body), record.properties) == ({"temp": 21.5}, {"unit": "C"})

            sent = edgeship(state, "c2d", "sensor-1", '{"led": "on"}', "--property", "k=v", "--message-id", "c1")
            assert sent.returncode == 0, sent.stderr
            message = device.expect("message")
            assert (json.loads(message["body"]), message["properties"], message["message_id"]) == (
                {"led": "on"},
                {"k": "v"},
                "c1",
            )
            invoked = edgeship(state, "invoke", "sensor-1", "blink", "3")
            assert json.loads(invoked.stdout) == {"status": 200, "payload": {"echo": 3}}
            twin = edgeship(state, "twin", "sensor-1", "--patch", '{"interval": 10}')
            assert json.loads(twin.stdout)["desired"]["interval"] == 10
            assert device.expect("desired")["patch"]["interval"] == 10
            ping = edgeship(state, "invoke", "$edgeAgent", "ping")
            assert json.loads(ping.stdout) == {"status": 200, "payload": None}
            status = json.loads(edgeship(state, "status", "--json").stdout)
            assert status["gateway_port"] == 443
            assert status["metrics_url"].startswith(f"http://{host}:")
            assert status["devices"] == {"sensor-1": {"connected": True}}

            for args, expected in (
                (("device", "add", "sensor-1"), "exists already"),
                (("device", "add", "bad/name"), "invalid device id"),
                (("device", "add", "quiet"), "already the name"),
                (("c2d", "ghost", "{}"), "no device named"),
                (("device", "remove", "ghost"), "no device named"),
            ):
                refused = edgeship(state, *args)
                assert refused.returncode == 1, (args, refused)
                assert refused.stderr.startswith("error: "), (args, refused.stderr)
                assert expected in refused.stderr, (args, refused.stderr)
                assert refused.stderr.count("\n") == 1

            device.close()
            queued = edgeship(state, "c2d", "sensor-1", '{"while": "offline"}', "--message-id", "c2")
            assert queued.returncode == 0, queued.stderr

        # a new run of the simulator: the device's identity and its queued message are still there
        with run_simulator(
            AGENT_MODULES / "deployment.json", state_dir=state, host=host, modules_dir=AGENT_MODULES, stop_grace_secs=5
        ) as sim:
            again = Device(info["connection_string"], info["ca_cert"])
            devices.append(again)
            again.expect("ready")
            later = again.expect("message")
            assert (json.loads(later["body"]), later["message_id"]) == ({"while": "offline"}, "c2")
            removed = edgeship(state, "device", "remove", "sensor-1")
            assert removed.returncode == 0, removed.stderr
            assert json.loads(edgeship(state, "device", "list", "--json").stdout) == []
            assert sim.status()["hub"]["connected_devices"] == 0  # its connection was closed
            refused_device = Device(info["connection_string"], info["ca_cert"], "no-retry")
            devices.append(refused_device)
            assert "Connection Refused" in refused_device.expect("error")["error"]
    finally:
        for device in devices:
            if device.process.poll() is None:
                device.process.kill()
                device.process.wait()


def test_the_harness_adds_devices_and_sends_them_c2d(tmp_path: Path) -> None:
    with run_simulator(
        AGENT_MODULES / "deployment.json",
        state_dir=tmp_path / "sim",
        host=unique_host(),
        modules_dir=AGENT_MODULES,
        stop_grace_secs=5,
    ) as sim:
        info = sim.add_device("probe")
        device = Device(info["connection_string"], info["ca_cert"])
        try:
            device.expect("ready")
            sim.send_c2d("probe", {"hello": "probe"}, {"k": "1"}, message_id="h1")
            got = device.expect("message")
            assert (json.loads(got["body"]), got["properties"], got["message_id"]) == (
                {"hello": "probe"},
                {"k": "1"},
                "h1",
            )
            device.command(op="send", body={"n": 1})
            device.expect("sent")
            [record] = sim.wait_upstream(
                count=1, where=lambda r: r.system_properties.get("connectionDeviceId") == "probe"
            )
            assert json.loads(record.body) == {"n": 1}
        finally:
            device.close()
        sim.remove_device("probe")
        assert sim.status()["devices"] == {}
