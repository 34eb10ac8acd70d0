"""The workload API, called by the real SDK's own HTTP client (requests-unixsocket) over the socket."""

from __future__ import annotations

import base64
import os
import stat
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from azure.iot.device import IoTHubModuleClient
from azure.iot.device.iothub.edge_hsm import IoTEdgeError, IoTEdgeHsm

from edgesim import sas
from edgesim.certs import ensure_certificates
from edgesim.workload import WorkloadApi, WorkloadIdentity
from tests.support.loop import LoopThread

API_VERSION = "2019-01-30"


@pytest.fixture
def workload(tmp_path: Path, loop_thread: LoopThread) -> Iterator[tuple[WorkloadApi, dict[str, str]]]:
    bundle = ensure_certificates(tmp_path / "state", ["127.0.0.21"], "hub.example")
    keys = {"modA": sas.generate_key(), "modB": sas.generate_key()}
    api = WorkloadApi(
        tmp_path / "state" / "run" / "workload.sock",
        bundle.trust_bundle_pem,
        {name: WorkloadIdentity(key, f"gen-{name}") for name, key in keys.items()},
    )
    loop_thread.run(api.start())
    yield api, keys
    loop_thread.run(api.stop())
    assert not api.socket_path.exists()


def test_socket_is_private(workload: tuple[WorkloadApi, dict[str, str]]) -> None:
    api, _ = workload
    assert stat.S_ISSOCK(api.socket_path.stat().st_mode)
    assert (api.socket_path.stat().st_mode & 0o777) == 0o600
    assert (api.socket_path.parent.stat().st_mode & 0o777) == 0o700


def test_sdk_hsm_gets_trust_bundle_and_signature(workload: tuple[WorkloadApi, dict[str, str]]) -> None:
    api, keys = workload
    hsm = IoTEdgeHsm("modA", "gen-modA", api.uri, API_VERSION)
    assert hsm.get_certificate() == (api.socket_path.parent.parent / "certs" / "ca.pem").read_text()
    data = "hub.example%2Fdevices%2Fd%2Fmodules%2FmodA\n1700000000"
    assert hsm.sign(data) == sas.sign(keys["modA"], data.encode())
    assert hsm.sign(data) != sas.sign(keys["modB"], data.encode())


def test_unknown_module_and_wrong_generation_are_refused(workload: tuple[WorkloadApi, dict[str, str]]) -> None:
    api, _ = workload
    with pytest.raises(IoTEdgeError, match="Unable to sign"):
        IoTEdgeHsm("ghost", "gen-modA", api.uri, API_VERSION).sign("x")
    with pytest.raises(IoTEdgeError, match="Unable to sign"):
        IoTEdgeHsm("modA", "gen-modB", api.uri, API_VERSION).sign("x")
    # The same refusals, with their status codes, through the SDK's transport.
    base = "http+unix://" + urllib.parse.quote(str(api.socket_path), safe="") + "/"
    body = {"keyId": "primary", "algo": "HMACSHA256", "data": base64.b64encode(b"x").decode()}
    ghost = requests.post(base + "modules/ghost/genid/gen-modA/sign", params={"api-version": API_VERSION}, json=body)
    assert (ghost.status_code, ghost.json()) == (404, {"message": "module not found: ghost"})
    wrong = requests.post(base + "modules/modA/genid/nope/sign", params={"api-version": API_VERSION}, json=body)
    assert wrong.status_code == 403
    bad = requests.post(
        base + "modules/modA/genid/gen-modA/sign", params={"api-version": API_VERSION}, json={**body, "data": "***"}
    )
    assert bad.status_code == 400
    no_version = requests.get(base + "trust-bundle")
    assert no_version.status_code == 400


def test_create_from_edge_environment_uses_the_workload_api(
    workload: tuple[WorkloadApi, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, _ = workload
    env = {
        "IOTEDGE_IOTHUBHOSTNAME": "hub.example",
        "IOTEDGE_DEVICEID": "dev",
        "IOTEDGE_MODULEID": "modA",
        "IOTEDGE_GATEWAYHOSTNAME": "127.0.0.21",
        "IOTEDGE_MODULEGENERATIONID": "gen-modA",
        "IOTEDGE_WORKLOADURI": api.uri,
        "IOTEDGE_APIVERSION": API_VERSION,
        "IOTEDGE_AUTHSCHEME": "sasToken",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = IoTHubModuleClient.create_from_edge_environment()
    try:
        assert os.environ["IOTEDGE_MODULEID"] == "modA"
        assert client.connected is False  # no hub needed to create it ...
        assert api.served == {"trust-bundle": 1, "sign": 1}  # ... but it fetched the CA and signed a token
    finally:
        client.shutdown()
