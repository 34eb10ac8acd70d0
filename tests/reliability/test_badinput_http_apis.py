"""Garbage at the simulator's two HTTP APIs (control API over TCP, workload API over its unix socket).

Every request, however broken, gets an HTTP answer that is not a 500 (a 500 means a handler raised
something unexpected) or a clean close; the simulator then still answers a good request.
"""

from __future__ import annotations

import json
import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesim.agent import BackoffConfig
from edgesim.testing import SimulatorHarness, run_simulator
from tests.support.badinput import TESTS, next_address

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
MODULES = TESTS / "simulator" / "runtime" / "modules"
RAW_CONTROL = 250  # hypothesis examples: raw bytes as an HTTP request to the control API
BODIES = 250  # JSON (and not) bodies to the control API's endpoints
RAW_WORKLOAD = 200  # raw requests to the workload socket
SETTINGS: dict[str, Any] = {"deadline": None, "suppress_health_check": list(HealthCheck)}
ANSWERS = {200, 202, 400, 403, 404, 405, 411, 413, 504}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHarness]:
    with run_simulator(
        MODULES / "deployment.json",
        state_dir=tmp_path_factory.mktemp("sim") / "state",
        host=next_address(),
        modules_dir=MODULES,
        backoff=BackoffConfig(cool_off_unit_secs=0.1),
        stop_grace_secs=5,
    ) as harness:
        harness.wait_connected("alpha", "beta", timeout=60)
        yield harness
        assert still_serving(harness)


def still_serving(sim: SimulatorHarness) -> bool:
    status = requests.get(f"{sim.control_url}/v1/status", timeout=10)
    return status.status_code == 200 and status.json()["modules"]["alpha"]["connected"] is True


def exchange(connection: socket.socket, data: bytes) -> bytes:
    """Send ``data`` and end the request stream; the server must then answer and close within 5 s."""
    chunks: list[bytes] = []
    with connection as sock:
        sock.settimeout(5)
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)  # no more request bytes: the server must answer or close now
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            raise AssertionError(f"neither an answer nor a close for {data[:80]!r}") from None
        except (ConnectionError, OSError):
            pass  # closed on us (e.g. while we were still sending): a clean refusal
    return b"".join(chunks)


def statuses(answer: bytes) -> list[int]:
    return [int(line.split()[1]) for line in answer.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


request_lines = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda method, path, version, headers, body: (
            method + b" " + path + b" " + version + b"\r\n" + headers + b"\r\n" + body
        ),
        st.sampled_from([b"GET", b"POST", b"PATCH", b"DELETE", b"", b"G\x00T"]),
        st.sampled_from(
            [
                b"/v1/status",
                b"/v1/modules/alpha/inputs/in",
                b"/v1/modules/alpha/methods/echo",
                b"/v1/modules/%00/twin",
                b"/v1/modules/../../etc/passwd/twin",
                b"/api/v1/messages",
                b"/v1/upstream?since=-1&wait=nan",
                b"/v1/upstream?wait=1e9",
                b"*",
                b"/" * 300,
                b"/v1/modules/alpha/logs?tail=99999999999999999999",
                b"/trust-bundle",
            ]
        ),
        st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9", b"", b"FTP/1"]),
        st.lists(
            st.sampled_from(
                [
                    b"Content-Length: 5",
                    b"Content-Length: -1",
                    b"Content-Length: 99999999999",
                    b"Content-Length: x",
                    b"Transfer-Encoding: chunked",
                    b"Connection: close",
                    b"NoColon",
                    b"Content-Length: 2\r\nContent-Length: 3",
                ]
            ),
            max_size=3,
        ).map(lambda hs: b"".join(h + b"\r\n" for h in hs)),
        st.binary(max_size=40),
    ),
)


@settings(max_examples=RAW_CONTROL, **SETTINGS)
@given(data=request_lines)
def test_raw_garbage_to_the_control_api(sim: SimulatorHarness, data: bytes) -> None:
    url = urllib.parse.urlsplit(sim.control_url)
    answer = exchange(socket.create_connection((url.hostname, url.port), timeout=10), data)
    assert all(code in ANSWERS for code in statuses(answer)), answer[:300]
    assert still_serving(sim)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=12,
)
ENDPOINTS = [
    ("POST", "/v1/modules/alpha/inputs/in"),
    ("POST", "/api/v1/messages?module=alpha"),
    ("POST", "/api/v1/messages"),
    ("POST", "/v1/modules/alpha/methods/echo"),
    ("PATCH", "/v1/modules/beta/twin"),
    ("PATCH", "/v1/modules/$edgeAgent/twin"),
    ("POST", "/v1/modules/ghost/inputs/in"),
    ("GET", "/v1/upstream?since=0&wait=0"),
]


@settings(max_examples=BODIES, **SETTINGS)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=st.one_of(
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {},
            optional={
                "body": json_values,
                "data": json_values,
                "properties": json_values,
                "messageId": json_values,
                "timeout": json_values,
                "payload": json_values,
                "desired": json_values,
                "inputName": json_values,
            },
        ).map(lambda v: json.dumps(v).encode()),
        st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),
        st.integers(90, 400).map(lambda n: json.dumps({"desired": _nest(n)}).encode()),
        st.binary(max_size=50),
    ),
)
def test_bad_bodies_to_the_control_api(sim: SimulatorHarness, endpoint: tuple[str, str], body: bytes) -> None:
    method, path = endpoint
    if path.endswith("/methods/echo"):  # a method call with a short timeout, whatever else the body says
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict) and "timeout" in value:
            value["timeout"] = 2
            body = json.dumps(value).encode()
    answer = requests.request(method, sim.control_url + path, data=body, timeout=30)
    assert answer.status_code in ANSWERS, (answer.status_code, answer.text[:300])
    assert "message" in answer.json() or answer.status_code < 400
    assert still_serving(sim)


def _nest(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"d": value}
    return value


@settings(max_examples=RAW_WORKLOAD, **SETTINGS)
@given(data=request_lines)
def test_raw_garbage_to_the_workload_socket(sim: SimulatorHarness, data: bytes) -> None:
    path = sim.simulator.state_dir / "run" / "workload.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(str(path))
    answer = exchange(sock, data)
    assert all(code in ANSWERS for code in statuses(answer)), answer[:300]
    good = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    good.settimeout(10)
    good.connect(str(path))
    reply = exchange(good, b"GET /trust-bundle?api-version=2019-01-30 HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert statuses(reply) == [200]
    assert b"BEGIN CERTIFICATE" in reply


def test_a_module_cannot_have_another_modules_token_signed(sim: SimulatorHarness) -> None:
    """With its own generation id (all a module knows), alpha gets signatures for alpha only."""
    import base64

    pid = sim.module_state("alpha").pid
    environ = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
    generation = environ["IOTEDGE_MODULEGENERATIONID"]
    body = json.dumps({"keyId": "primary", "algo": "HMACSHA256", "data": base64.b64encode(b"x").decode()}).encode()
    path = sim.simulator.state_dir / "run" / "workload.sock"
    codes = {}
    for module in ("alpha", "beta", "$edgeHub", "../beta"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(str(path))
        target = urllib.parse.quote(module, safe="")
        request = (
            f"POST /modules/{target}/genid/{generation}/sign?api-version=2019-01-30 HTTP/1.1\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        codes[module] = statuses(exchange(sock, request))
    assert codes == {"alpha": [200], "beta": [403], "$edgeHub": [404], "../beta": [404]}
