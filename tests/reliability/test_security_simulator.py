"""A running simulator keeps module keys to itself and listens only where it should.

One simulator (edgesim.testing.run_simulator) with the two real SDK test modules (alpha, beta).
The per-module keys are taken from the simulator object in-process, then looked for, in five
encodings each, in every file of the state directory (logs, twins, certificates, sim.json), every
control API answer, the output of the ``edgeship sim`` commands, the modules' environment and
command lines, and the simulator's own log records. Every TCP socket this process listens on
must be on a loopback address; the workload socket must be 0600 in a 0700 folder.

Extends tests/simulator/runtime/test_sim_control.py::test_methods_twins_and_no_key_in_any_answer
(the raw key in four answers and the log files).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
import socket
import stat
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from edgesim.agent import BackoffConfig
from edgesim.hub import codec
from edgesim.testing import SimulatorHarness, run_simulator
from tests.support.badinput import EDGESHIP, TESTS, closed_by_server, connect_frame, next_address, read_connack, token

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
MODULES = TESTS / "simulator" / "runtime" / "modules"


@pytest.fixture(scope="module")
def logged() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # everything the simulator logs, at any level
    yield records
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory, logged: list[logging.LogRecord]) -> Iterator[SimulatorHarness]:
    with run_simulator(
        MODULES / "deployment.json",
        state_dir=tmp_path_factory.mktemp("sim") / "state",
        host=next_address(),
        modules_dir=MODULES,
        backoff=BackoffConfig(cool_off_unit_secs=0.1),
        stop_grace_secs=5,
    ) as harness:
        harness.wait_connected("alpha", "beta", timeout=60)
        # Some traffic, a twin change and refused logins, so that logs and state have content.
        harness.send("alpha", "in", {"text": "hello"})
        harness.wait_upstream(1, timeout=30)
        assert harness.invoke("alpha", "echo", {"a": 1}, timeout=10)[0] == 200
        harness.patch_desired("alpha", {"mode": "fast"})
        yield harness


def key_forms(sim: SimulatorHarness) -> dict[str, list[bytes]]:
    """Module -> its key as text (base64, URL-safe base64, URL-quoted), raw bytes and hex."""
    forms: dict[str, list[bytes]] = {}
    for module, key in sim.simulator.hub.config.identities.items():
        raw = base64.b64decode(key)
        forms[module] = [
            key.encode(),
            base64.urlsafe_b64encode(raw),
            urllib.parse.quote(key, safe="").encode(),
            raw,
            raw.hex().encode(),
        ]
    assert set(forms) == {"alpha", "beta"}
    return forms


def assert_no_key(sim: SimulatorHarness, where: str, data: bytes | str) -> None:
    blob = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    for module, forms in key_forms(sim).items():
        for form in forms:
            assert form not in blob, f"{module}'s key found in {where}"


def test_refused_logins_with_real_signatures_are_not_logged_with_them(sim: SimulatorHarness) -> None:
    import ssl

    host = sim.simulator.config.host
    context = ssl.create_default_context(cafile=str(sim.simulator.state_dir / "certs" / "ca.pem"))
    context.check_hostname = False
    names: dict[str, Any] = {"device": sim.simulator.config.device_id, "hub": sim.simulator.config.hub_hostname}
    for module, key in sim.simulator.hub.config.identities.items():
        # A correctly signed token that has expired: the hub logs the refusal, never the token.
        expired = token(module, key, expiry=1, **names)
        with (
            socket.create_connection((host, 8883), timeout=10) as plain,
            context.wrap_socket(plain, server_hostname=host) as sock,
        ):
            sock.sendall(connect_frame(module, expired, **names))
            assert read_connack(sock) == codec.REFUSED_NOT_AUTHORIZED
            assert closed_by_server(sock)
    assert sim.status()["hub"]["auth_failures"] >= 2


def test_no_key_in_any_file_of_the_state_directory(sim: SimulatorHarness) -> None:
    state = sim.simulator.state_dir
    files = [path for path in state.rglob("*") if path.is_file() and not stat.S_ISSOCK(path.stat().st_mode)]
    names = {str(path.relative_to(state)) for path in files}
    assert {"sim.json", "logs/alpha.log", "logs/beta.log", "certs/ca.pem"} <= names
    assert any(name.startswith("hub/") for name in names)
    for path in files:
        assert_no_key(sim, str(path), path.read_bytes())


def test_no_key_in_any_control_api_answer(sim: SimulatorHarness) -> None:
    url = sim.control_url
    answers = {
        "status": requests.get(f"{url}/v1/status", timeout=10),
        "upstream": requests.get(f"{url}/v1/upstream", timeout=10),
        "invoke": requests.post(f"{url}/v1/modules/alpha/methods/echo", json={"payload": {"x": 1}}, timeout=20),
        "bad request": requests.post(f"{url}/v1/modules/alpha/inputs/in", data="{nope", timeout=10),
        "unknown": requests.get(f"{url}/v1/modules/ghost/twin", timeout=10),
        "twin patch": requests.patch(f"{url}/v1/modules/beta/twin", json={"desired": {"k": 1}}, timeout=10),
    }
    for module in ("alpha", "beta", "$edgeAgent", "$edgeHub"):
        answers[f"{module} twin"] = requests.get(f"{url}/v1/modules/{module}/twin", timeout=10)
    for module in ("alpha", "beta"):
        answers[f"{module} logs"] = requests.get(f"{url}/v1/modules/{module}/logs", timeout=10)
    assert answers["status"].json()["modules"]["alpha"]["connected"] is True
    assert answers["invoke"].json()["status"] == 200
    for where, answer in answers.items():
        assert_no_key(sim, f"control API {where}", answer.content)
        assert_no_key(sim, f"control API {where} headers", json.dumps(dict(answer.headers)))


def test_no_key_in_edgeship_sim_output(sim: SimulatorHarness) -> None:
    state = str(sim.simulator.state_dir)
    commands = [
        ["status"],
        ["status", "--json"],
        ["twin", "alpha"],
        ["twin", "$edgeAgent"],
        ["logs", "alpha"],
        ["logs", "beta"],
        ["monitor", "--json"],
        ["invoke", "alpha", "echo", '{"q": 1}'],
        ["send", "alpha", "in", '{"text": "cli"}'],
        ["twin", "ghost"],
    ]
    for command in commands:
        result = subprocess.run(
            [str(EDGESHIP), "sim", *command, "--state", state], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == (1 if command == ["twin", "ghost"] else 0), (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert_no_key(sim, f"edgeship sim {' '.join(command)}", result.stdout + result.stderr)


def test_no_key_in_the_modules_environment_or_command_line(sim: SimulatorHarness) -> None:
    for module in ("alpha", "beta"):
        pid = sim.module_state(module).pid
        assert pid is not None
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert f"IOTEDGE_MODULEID={module}".encode() in environ  # it is the module's environment
        assert_no_key(sim, f"{module}'s environment", environ)
        assert_no_key(sim, f"{module}'s command line", Path(f"/proc/{pid}/cmdline").read_bytes())


def test_no_key_in_the_simulators_log_records(sim: SimulatorHarness, logged: list[logging.LogRecord]) -> None:
    assert any(record.name.startswith("edgesim") for record in logged)
    for record in logged:
        assert_no_key(sim, f"log record {record.name}", record.getMessage())
        if record.exc_info:
            assert_no_key(sim, f"log record {record.name}", logging.Formatter().formatException(record.exc_info))


def listening_tcp_addresses() -> list[str]:
    """The local addresses of every TCP socket in LISTEN state that this process holds."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    addresses = []
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            address_hex = fields[1].split(":")[0]
            raw = bytes.fromhex(address_hex)
            packed = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))  # per 32-bit word, little-endian
            addresses.append(str(ipaddress.ip_address(packed)))
    return addresses


def test_every_listening_socket_is_on_loopback(sim: SimulatorHarness) -> None:
    addresses = listening_tcp_addresses()
    host = sim.simulator.config.host
    assert host in addresses  # the hub (8883) ...
    control = urllib.parse.urlsplit(sim.control_url)
    assert control.hostname == host  # ... and the control API, both on this simulator's loopback address
    assert addresses.count(host) >= 2
    assert all(ipaddress.ip_address(address).is_loopback for address in addresses), addresses


def test_workload_socket_is_private(sim: SimulatorHarness) -> None:
    socket_path = sim.simulator.state_dir / "run" / "workload.sock"
    mode = socket_path.stat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(socket_path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(sim.simulator.state_dir.stat().st_mode) == 0o700
    environ = Path(f"/proc/{sim.module_state('alpha').pid}/environ").read_bytes().split(b"\0")
    assert f"IOTEDGE_WORKLOADURI=unix://{socket_path}".encode() in environ
    key_files = [path for path in (sim.simulator.state_dir / "certs").iterdir() if "key" in path.name]
    assert key_files
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in key_files)
