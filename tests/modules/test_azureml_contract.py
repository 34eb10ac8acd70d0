"""The entry-script face against the real Azure ML inference server (azmlinfsrv 1.5.1): same requests, same answers.

Both servers host the same small entry scripts (each behaviour a client can see: run() returning
dicts, lists, strings, None, something that is not JSON, raising; AZUREML_MODEL_DIR and
AZUREML_ENTRY_SCRIPT; request headers; GET /score; swagger). Every request goes to both and the
status, the content type, the body and the headers that clients read must be equal. The seed's
TensorFlow score.py is the benchmark's (bench/bench_serving.py), not this test's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from edgeship.errors import DeployError
from edgeship.services import peer
from tests.support.ports import free_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0

CONTRACT_SCRIPT = """
import json
import os

def init():
    global model_dir, entry
    model_dir = os.environ.get("AZUREML_MODEL_DIR")
    entry = os.path.basename(os.environ.get("AZUREML_ENTRY_SCRIPT", ""))

def run(data):
    request = json.loads(data) if data else {}
    kind = request.get("kind") if isinstance(request, dict) else None
    if kind == "raise":
        raise ValueError("the script failed")
    if kind == "string":
        return "a plain string"
    if kind == "none":
        return None
    if kind == "not-json":
        return {1, 2}
    if kind == "list":
        return [1, "two", {"three": 3.5}, None, True]
    if kind == "env":
        return {"model_dir": model_dir, "entry": entry}
    if kind == "seed-error":
        try:
            json.loads("not json")
        except Exception as e:
            return str(e)
    return {"echo": request}
"""

HEADERS_SCRIPT = """
def init():
    pass

def run(data, request_headers):
    return {"data": data, "custom": request_headers.get("X-Custom"),
            "client": request_headers.get("X-Ms-Client-Request-Id")}
"""

USER_SWAGGER3 = {"openapi": "3.0.3", "info": {"title": "mine", "version": "7"}, "paths": {}}


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]


def wait_ready(server: Server, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"{server.url} exited {server.process.returncode}: {log.read_text()[-2000:]}")
        try:
            if requests.get(server.url + "/", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)  # polling a foreign process until it listens: there is no event to wait on
    pytest.fail(f"{server.url} did not start within {START_TIMEOUT:.0f} s: {log.read_text()[-2000:]}")


def start(command: list[str], cwd: Path, port: int, log: Path) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IOTEDGE_", "AZUREML_", "AML_"))}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = Server(f"http://127.0.0.1:{port}", process)
    wait_ready(server, log)
    return server


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def azmlinfsrv_venv() -> Path:
    cache = Path(os.environ.get("EDGESHIP_PEER_CACHE", REPO / ".cache"))
    try:
        return peer.ensure_venv(cache)
    except DeployError as exc:
        print(f"\nskipping the azmlinfsrv contract: {exc}", file=sys.stderr)
        pytest.skip(str(exc))


def serve_pair(venv: Path, folder: Path, script: str) -> Iterator[tuple[Server, Server]]:
    model_dir = folder / "azureml-models"
    (model_dir / "models").mkdir(parents=True, exist_ok=True)
    entry = folder / "score.py"
    entry.write_text(script)
    theirs_port, ours_port = free_port(), free_port()
    theirs = start(
        peer.launch_command(venv, entry, model_dir, theirs_port), folder, theirs_port, folder / "azmlinfsrv.log"
    )
    try:
        ours = start(
            [
                sys.executable,
                "-m",
                "edgeship_sentiment",
                "--no-iothub",
                "--http",
                f"127.0.0.1:{ours_port}",
                "--entry-script",
                str(entry),
                "--model-dir",
                str(model_dir),
                "--capture-dir",
                str(folder / "capture"),
            ],
            folder,
            ours_port,
            folder / "edgeship.log",
        )
    except BaseException:
        stop(theirs)
        raise
    yield theirs, ours
    stop(ours)
    stop(theirs)


@pytest.fixture(scope="module")
def contract(azmlinfsrv_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    yield from serve_pair(azmlinfsrv_venv, tmp_path_factory.mktemp("contract"), CONTRACT_SCRIPT)


@pytest.fixture(scope="module")
def with_headers(azmlinfsrv_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    folder = tmp_path_factory.mktemp("headers")
    (folder / "swagger3.json").write_text(json.dumps(USER_SWAGGER3))
    yield from serve_pair(azmlinfsrv_venv, folder, HEADERS_SCRIPT)


# The headers a client of azmlinfsrv reads; x-ms-run-fn-exec-ms and x-ms-server-version are
# compared by presence (a duration, a server name).
COMPARED = (
    "x-ms-run-function-failed",
    "x-request-id",
    "x-ms-request-id",
    "x-ms-client-request-id",
    "traceid",
    "allow",
)  # azmlinfsrv sends no Allow with its 405: neither may we
PRESENT = ("x-ms-run-fn-exec-ms", "x-ms-server-version")


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def answer(server: Server, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> dict[str, Any]:
    response = requests.request(method, server.url + path, data=body, headers=headers, timeout=30)
    content_type = response.headers.get("content-type", "")
    payload: Any = (
        response.json() if content_type.startswith("application/json") and response.content else response.text
    )
    sent = set(headers.values())
    seen = {name: response.headers.get(name) for name in COMPARED}
    for name, value in seen.items():
        if value is not None and value not in sent and is_uuid(value):
            seen[name] = "<generated uuid>"  # each server makes its own; test_generated_request_ids checks them
    present = {name: name in response.headers for name in PRESENT}
    if present["x-ms-run-fn-exec-ms"]:
        assert float(response.headers["x-ms-run-fn-exec-ms"]) >= 0
    return {"status": response.status_code, "type": content_type, "body": payload, "headers": seen, "present": present}


IDS = {"x-request-id": "req-1", "x-ms-client-request-id": "client-1"}
JSON = {"Content-Type": "application/json"}
CASES = {
    "health": ("GET", "/", None, IDS),
    "score a dict": ("POST", "/score", b'{"text": "Today is a great day!"}', {**JSON, **IDS}),
    "score a list": ("POST", "/score", b'{"kind": "list"}', {**JSON, **IDS}),
    "score a string": ("POST", "/score", b'{"kind": "string"}', {**JSON, **IDS}),
    "score None": ("POST", "/score", b'{"kind": "none"}', {**JSON, **IDS}),
    "run() returns the seed's error string": ("POST", "/score", b'{"kind": "seed-error"}', {**JSON, **IDS}),
    "run() raises": ("POST", "/score", b'{"kind": "raise"}', {**JSON, **IDS}),
    "run() returns what JSON cannot hold": ("POST", "/score", b'{"kind": "not-json"}', {**JSON, **IDS}),
    "body is not UTF-8": ("POST", "/score", b'\xff\xfe{"text"', {**JSON, **IDS}),
    "body is not JSON (run() raises)": ("POST", "/score", b"not json", {**JSON, **IDS}),
    "AZUREML_MODEL_DIR and AZUREML_ENTRY_SCRIPT": ("POST", "/score", b'{"kind": "env"}', {**JSON, **IDS}),
    "GET /score calls run() with the query": ("GET", "/score?kind=list&n=3&n=4&s=x&j=%7B%22a%22%3A1%7D", None, IDS),
    "GET /score without a query": ("GET", "/score", None, IDS),
    "OPTIONS /score": ("OPTIONS", "/score", None, IDS),
    "PUT /score": ("PUT", "/score", b"{}", {**JSON, **IDS}),
    "POST /": ("POST", "/", b"{}", IDS),
    "unknown route": ("GET", "/nope", None, IDS),
    "legacy x-ms-request-id only": ("POST", "/score", b"{}", {**JSON, "x-ms-request-id": "legacy-7"}),
    "both legacy and client ids": (
        "POST",
        "/score",
        b"{}",
        {**JSON, "x-ms-request-id": "legacy-7", "x-ms-client-request-id": "client-8"},
    ),
    "x-request-id of 101 characters": ("POST", "/score", b"{}", {**JSON, "x-request-id": "r" * 101}),
    "x-ms-client-request-id of 101 characters": (
        "POST",
        "/score",
        b"{}",
        {**JSON, "x-request-id": "ok", "x-ms-client-request-id": "c" * 101},
    ),
    "TraceId is echoed": ("POST", "/score", b"{}", {**JSON, **IDS, "TraceId": "trace-5"}),
    "swagger.json (version 2 by default)": ("GET", "/swagger.json", None, IDS),
    "swagger.json?version=abc": ("GET", "/swagger.json?version=abc", None, IDS),
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_answer_as_azmlinfsrv(contract: tuple[Server, Server], case: str) -> None:
    theirs, ours = contract
    method, path, body, headers = CASES[case]
    expected = answer(theirs, method, path, body, headers)
    actual = answer(ours, method, path, body, headers)
    if case.startswith("swagger.json (version"):
        expected["body"], actual["body"] = swagger_shape(expected["body"]), swagger_shape(actual["body"])
    assert actual == expected


def test_generated_request_ids_are_derived_alike(contract: tuple[Server, Server]) -> None:
    for server in contract:
        response = requests.post(server.url + "/score", data=b"{}", headers=JSON, timeout=30)
        generated = response.headers["x-request-id"]
        assert str(uuid.UUID(generated)) == generated
        assert response.headers["x-ms-request-id"] == generated
        assert "x-ms-client-request-id" not in response.headers
        with_client = requests.post(
            server.url + "/score", data=b"{}", timeout=30, headers={**JSON, "x-ms-client-request-id": "c-1"}
        )
        assert with_client.headers["x-ms-request-id"] == "c-1"
        assert with_client.headers["x-ms-client-request-id"] == "c-1"
        assert uuid.UUID(with_client.headers["x-request-id"])


def swagger_shape(document: Any) -> Any:
    """What a client of the description reads: versions, title, every operation and the schemas."""
    if not isinstance(document, dict):
        return document
    operations = {
        path: {
            method: (
                op.get("operationId"),
                sorted(op.get("responses", {})),
                [p.get("name") for p in op.get("parameters", [])],
            )
            for method, op in item.items()
        }
        for path, item in document.get("paths", {}).items()
    }
    schemas = document.get("definitions") or document.get("components", {}).get("schemas")
    return {
        "version": document.get("swagger") or document.get("openapi"),
        "info": {k: document.get("info", {}).get(k) for k in ("title", "version")},
        "operations": operations,
        "schemas": schemas,
    }


@pytest.mark.parametrize("version", ["2", "2.0", "3", "3.0", "3.1"])
def test_generated_swagger_has_the_same_shape(contract: tuple[Server, Server], version: str) -> None:
    theirs, ours = contract
    expected = answer(theirs, "GET", f"/swagger.json?version={version}", None, IDS)
    actual = answer(ours, "GET", f"/swagger.json?version={version}", None, IDS)
    assert expected["status"] == 200
    expected["body"], actual["body"] = swagger_shape(expected["body"]), swagger_shape(actual["body"])
    assert actual == expected


HEADER_CASES = {
    "run(data, request_headers)": ("POST", "/score", b'{"text": "hi"}', {**JSON, **IDS, "X-Custom": "custom-value"}),
    "the user's swagger3.json": ("GET", "/swagger.json?version=3", None, IDS),
    "no user swagger for 3.1: generated": ("GET", "/swagger.json?version=3.1", None, IDS),
}


@pytest.mark.parametrize("case", list(HEADER_CASES))
def test_headers_script_and_user_swagger(with_headers: tuple[Server, Server], case: str) -> None:
    theirs, ours = with_headers
    method, path, body, headers = HEADER_CASES[case]
    expected = answer(theirs, method, path, body, headers)
    actual = answer(ours, method, path, body, headers)
    if case.startswith("no user swagger"):
        expected["body"], actual["body"] = swagger_shape(expected["body"]), swagger_shape(actual["body"])
    assert actual == expected
    if case == "the user's swagger3.json":
        assert actual["body"] == USER_SWAGGER3
