"""The HTTP face's server: keep-alive without Nagle's 40 ms, a backlog for 256 clients at once, limits, SIGTERM."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from edgeship_sentiment.http_face import SentimentHTTPServer
from edgeship_sentiment.http_server import BACKLOG
from edgeship_sentiment.payloads import MAX_BODY_BYTES
from edgeship_sentiment.service import SentimentService
from tests.support.ports import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def server(service: SentimentService) -> Iterator[SentimentHTTPServer]:
    srv = SentimentHTTPServer(service, "127.0.0.1", 0)
    srv.start_background()
    yield srv
    srv.shutdown()
    srv.server_close()


def port_of(server: SentimentHTTPServer) -> int:
    return int(server.sock.getsockname()[1])


@pytest.mark.slow
def test_keep_alive_requests_do_not_wait_for_delayed_acks(server: SentimentHTTPServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=10)
    body = json.dumps({"text": "Today is a great day!"})
    times = []
    sockets = set()
    for _ in range(200):
        started = time.perf_counter()
        connection.request("POST", "/score", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        payload = json.loads(response.read())
        times.append(time.perf_counter() - started)
        assert response.status == 200
        assert payload["label"] in {"NEGATIVE", "NEUTRAL", "POSITIVE"}
        sockets.add(id(connection.sock))
    connection.close()
    assert len(sockets) == 1  # one connection served all 200
    # Nagle + the client's delayed ACK held every reply about 40 ms (issue #14).
    assert statistics.median(times) < 0.010, f"p50 {statistics.median(times) * 1000:.1f} ms"


@pytest.mark.slow
def test_256_clients_connecting_at_once_are_all_served(server: SentimentHTTPServer) -> None:
    assert BACKLOG >= 256
    count = 256
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        try:
            barrier.wait(30)
            connection = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=60)
            connection.request(
                "POST",
                "/score",
                json.dumps({"text": f"client {index} says hello"}),
                {"Content-Type": "application/json"},
            )
            status = connection.getresponse().status
            connection.close()
            with lock:
                statuses.append(status)
        except Exception as exc:  # noqa: BLE001 - a reset or refusal is what this test is about
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert statuses == [200] * count


@pytest.mark.slow
def test_chunked_body_over_the_limit_is_refused(server: SentimentHTTPServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    response = requests.post(server.url + "/score", data=chunks(), headers={"x-request-id": "big-1"}, timeout=30)
    assert response.status_code == 400
    assert "larger than" in response.json()["error"]
    assert response.headers["x-request-id"] == "big-1"
    assert requests.post(server.url + "/score", json={"text": "fine"}, timeout=10).status_code == 200


@pytest.mark.slow
def test_only_post_scores(server: SentimentHTTPServer) -> None:
    response = requests.get(server.url + "/score", timeout=10)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


SLOW_SCRIPT = """
import json
import os
import time
from pathlib import Path

def init():
    pass

def run(data):
    Path(os.environ["MARKER"]).write_text("running")
    time.sleep(1.0)  # a slow model: the request is in flight when SIGTERM arrives
    return {"finished": json.loads(data)["n"]}
"""


def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text(SLOW_SCRIPT)
    marker = tmp_path / "marker"
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("IOTEDGE_")}, "MARKER": str(marker)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-u",
            "-m",
            "edgeship_sentiment",
            "--no-iothub",
            "--http",
            f"127.0.0.1:{port}",
            "--entry-script",
            str(script),
            "--model-dir",
            str(tmp_path),
            "--capture-dir",
            str(tmp_path / "cap"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # the module logs "ready" once every face is up
            if "ready:" in line:
                break
        result: dict[str, object] = {}

        def call() -> None:
            response = requests.post(f"http://127.0.0.1:{port}/score", data=json.dumps({"n": 7}), timeout=30)
            result["status"], result["body"] = response.status_code, response.json()

        caller = threading.Thread(target=call)
        caller.start()
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # waiting for the script to start run(): a file is the only signal it gives
        assert marker.exists()
        process.send_signal(signal.SIGTERM)
        caller.join(30)
        assert result == {"status": 200, "body": {"finished": 7}}
        assert process.wait(30) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


WORKER_SCRIPT = """
import os
from pathlib import Path

def init():
    Path(os.environ["INIT_DIR"], str(os.getpid())).write_text("init")

def run(data):
    return {"pid": os.getpid()}
"""


def test_worker_count_runs_that_many_processes_on_one_port(tmp_path: Path) -> None:
    script = tmp_path / "score.py"
    script.write_text(WORKER_SCRIPT)
    inits = tmp_path / "inits"
    inits.mkdir()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IOTEDGE_")},
        "INIT_DIR": str(inits),
        "WORKER_COUNT": "2",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-u",
            "-m",
            "edgeship_sentiment",
            "--no-iothub",
            "--http",
            f"127.0.0.1:{port}",
            "--entry-script",
            str(script),
            "--model-dir",
            str(tmp_path),
            "--capture-dir",
            str(tmp_path / "cap"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "ready: 2 HTTP workers" in line:
                break
        pids = {p.name for p in inits.iterdir()}
        assert len(pids) == 2  # init() ran once in each worker, as azmlinfsrv's WORKER_COUNT does
        assert str(process.pid) not in pids
        answered = {
            str(requests.post(f"http://127.0.0.1:{port}/score", data=b"{}", timeout=10).json()["pid"])
            for _ in range(20)
        }
        assert answered <= pids
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_worker_count_above_1_needs_the_http_face_alone(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("IOTEDGE_")}, "WORKER_COUNT": "2"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeship_sentiment",
            "--no-iothub",
            "--mqtt",
            "mqtt://127.0.0.1:1",
            "--http",
            "127.0.0.1:0",
            "--model-dir",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: --workers (WORKER_COUNT) above 1 serves the HTTP face only: each worker "
        "would connect to IoT Hub or the broker again"
    )


@pytest.mark.slow
def test_garbage_on_the_wire_never_stops_the_face(server: SentimentHTTPServer) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    port = port_of(server)
    methods = st.sampled_from([b"POST", b"GET", b"PUT", b"\x00", b""])
    lines = st.builds(
        lambda m, p, v: m + b" " + p + b" " + v + b"\r\n",
        methods,
        st.sampled_from([b"/score", b"/", b"/metrics", b"*", b"%zz", b"/" + b"a" * 9000]),
        st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9", b""]),
    )
    headers = st.lists(
        st.sampled_from(
            [
                b"Content-Length: 5\r\n",
                b"Content-Length: -1\r\n",
                b"Content-Length: 99999999999\r\n",
                b"Transfer-Encoding: chunked\r\n",
                b"Content-Type: application/json\r\n",
                b"X: " + b"y" * 70000 + b"\r\n",
                b"\xff\xfe: \x00\r\n",
            ]
        ),
        max_size=4,
    )

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        st.one_of(
            st.binary(max_size=2000),
            st.builds(lambda a, b, c: a + b"".join(b) + b"\r\n" + c, lines, headers, st.binary(max_size=300)),
        )
    )
    def one(raw: bytes) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            try:
                sock.sendall(raw)
                sock.shutdown(socket.SHUT_WR)
                answer = sock.recv(65536)
            except OSError:  # the server may close on garbage before reading it all: also an answer
                answer = b""
        if answer:
            status = int(answer.split(b" ", 2)[1])
            assert status < 500 or status == 503, answer[:200]

    one()
    assert requests.post(server.url + "/score", json={"text": "still scoring"}, timeout=10).status_code == 200
