"""Module-to-module direct methods over HTTPS on 443, with real SDK modules in separate processes.

The caller is ``IoTHubModuleClient.invoke_method`` (the SDK builds the request: path, api-version,
``x-ms-edge-moduleId``, its own SAS token in ``Authorization``); the answers are edgeHub's
``TwinsController``'s. The impersonation cases need a request the SDK never builds, so they use
``requests`` with tokens made by ``edgesim.sas``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from edgesim import sas
from tests.support.hub import DEVICE, HUB_HOSTNAME, EdgePeer, HubThread, Peer, listens_for_methods, module_peer

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubThread]:
    thread = HubThread(tmp_path, ["caller", "callee", "other"], {}, gateway_port=443).start()
    yield thread
    thread.stop()


def _ready(peers: list[Peer], hub: HubThread, *names: str) -> dict[str, EdgePeer]:
    started = {name: module_peer(hub, name) for name in names}
    peers.extend(started.values())
    for peer in started.values():
        peer.expect("ready")
    # wait_for's predicate runs on the hub's loop
    hub.wait_for(lambda: all(name in hub.hub.connected_modules() for name in names))
    return started


def _invoke(peer: Peer, device: str, module: str | None, **params: object) -> dict[str, object]:
    peer.command(op="invoke", device=device, module=module, params=params)
    while True:
        event = peer.events.get(timeout=60)
        if event["event"] in ("invoked", "invoke_failed"):
            return event
        peer.backlog.append(event)


def test_a_module_calls_another_modules_method(hub: HubThread, peers: list[Peer]) -> None:
    started = _ready(peers, hub, "caller", "callee")
    # The callee subscribes to methods when its handler is set: wait until it listens.
    hub.wait_for(lambda: listens_for_methods(hub.hub, "callee"))
    result = _invoke(
        started["caller"], DEVICE, "callee", methodName="echo", payload={"n": 7}, responseTimeoutInSeconds=10
    )
    assert result == {"event": "invoked", "response": {"status": 200, "payload": {"echo": {"n": 7}}}}
    method = started["callee"].expect("method")
    assert (method["name"], method["payload"]) == ("echo", {"n": 7})


def test_a_missing_module_is_404_and_a_silent_one_504(hub: HubThread, peers: list[Peer]) -> None:
    started = _ready(peers, hub, "caller", "callee")
    hub.wait_for(lambda: listens_for_methods(hub.hub, "callee"))
    missing = _invoke(started["caller"], DEVICE, "ghost", methodName="echo", payload=None)
    assert missing["event"] == "invoke_failed", missing
    assert "returned: 404" in str(missing["cause"]), missing
    not_running = _invoke(started["caller"], DEVICE, "other", methodName="echo", payload=None)
    assert not_running["event"] == "invoke_failed", not_running
    assert "returned: 404" in str(not_running["cause"]), not_running
    began = time.monotonic()
    silent = _invoke(started["caller"], DEVICE, "callee", methodName="slow", payload=None, responseTimeoutInSeconds=1)
    assert silent["event"] == "invoke_failed", silent
    assert "returned: 504" in str(silent["cause"]), silent
    assert 0.9 < time.monotonic() - began < 15


def _post(hub: HubThread, path: str, headers: dict[str, str], body: object) -> requests.Response:
    return requests.post(
        f"https://{hub.host}:443/{path}?api-version=2019-10-01",
        json=body,
        headers=headers,
        verify=str(hub.certs.ca_cert),
        timeout=30,
    )


def _token(hub: HubThread, module: str, key: str | None = None) -> str:
    return sas.build_token(
        sas.module_resource_uri(HUB_HOSTNAME, DEVICE, module), key or hub.keys[module], int(time.time()) + 600
    )


def test_a_module_cannot_call_as_another(hub: HubThread, peers: list[Peer]) -> None:
    _ready(peers, hub, "callee")
    hub.wait_for(lambda: listens_for_methods(hub.hub, "callee"))
    body = {"methodName": "echo", "payload": {"x": 1}, "responseTimeoutInSeconds": 5}
    path = f"twins/{DEVICE}/modules/callee/methods"
    own = {"x-ms-edge-moduleId": f"{DEVICE}/caller", "Authorization": _token(hub, "caller")}
    answer = _post(hub, path, own, body)
    assert (answer.status_code, answer.json()) == (200, {"status": 200, "payload": {"echo": {"x": 1}}})
    # caller's own token, but claiming to be "other"
    claimed = {"x-ms-edge-moduleId": f"{DEVICE}/other", "Authorization": _token(hub, "caller")}
    assert _post(hub, path, claimed, body).status_code == 401
    # a token for "other"'s resource signed with caller's key
    forged = {"x-ms-edge-moduleId": f"{DEVICE}/other", "Authorization": _token(hub, "other", hub.keys["caller"])}
    assert _post(hub, path, forged, body).status_code == 401
    # a module of another device
    foreign = {"x-ms-edge-moduleId": "elsewhere/caller", "Authorization": _token(hub, "caller")}
    refused = _post(hub, path, foreign, body)
    assert refused.status_code == 401
    assert "same device" in refused.json()["message"]
    assert _post(hub, path, {"Authorization": _token(hub, "caller")}, body).status_code == 400
    assert _post(hub, path, own, {"payload": 1}).status_code == 400  # no methodName
    assert peers[0].expect("method")["payload"] == {"x": 1}  # the genuine call, and none of the refused ones:
    assert hub.run(lambda: hub.hub.stats()["auth_failures"]) == 0  # (MQTT connections all authenticated)
    peers[0].command(op="twin")  # a round trip: any method event sent before it would come first
    peers[0].expect("twin")
    assert not any(e["event"] == "method" for e in peers[0].backlog)


def test_bad_requests_get_an_error_reply_and_the_listener_carries_on(hub: HubThread, peers: list[Peer]) -> None:
    _ready(peers, hub, "callee")
    hub.wait_for(lambda: listens_for_methods(hub.hub, "callee"))
    own = {"x-ms-edge-moduleId": f"{DEVICE}/caller", "Authorization": _token(hub, "caller")}
    url = f"https://{hub.host}:443/twins/{DEVICE}/modules/callee/methods?api-version=2019-10-01"

    def post(data: bytes, path: str | None = None) -> requests.Response:
        return requests.post(
            path or url,
            data=data,
            headers={**own, "Content-Type": "application/json"},
            verify=str(hub.certs.ca_cert),
            timeout=30,
        )

    assert post(b"{not json").status_code == 400
    assert post(b"[1, 2]").status_code == 400
    assert post(b'{"methodName": "echo", "responseTimeoutInSeconds": -1}').status_code == 400
    assert post(b'{"methodName": "echo", "responseTimeoutInSeconds": "soon"}').status_code == 400
    assert post(b'{"methodName": "echo", "payload": "' + b"x" * 200_000 + b'"}').status_code == 413
    elsewhere = f"https://{hub.host}:443/twins/otherdevice/modules/callee/methods?api-version=2019-10-01"
    answer = post(b'{"methodName": "echo"}', elsewhere)
    assert (answer.status_code, answer.json()) == (404, {"message": "Client otherdevice/callee not found"})
    assert post(b"{}", f"https://{hub.host}:443/nothing/here").status_code == 404
    # an unauthenticated caller learns nothing about the target
    assert (
        requests.post(
            elsewhere,
            json={"methodName": "echo"},
            verify=str(hub.certs.ca_cert),
            headers={"x-ms-edge-moduleId": f"{DEVICE}/caller"},
            timeout=30,
        ).status_code
        == 401
    )
    good = post(b'{"methodName": "echo", "payload": {"still": "here"}, "responseTimeoutInSeconds": 5}')
    assert (good.status_code, good.json()) == (200, {"status": 200, "payload": {"echo": {"still": "here"}}})


def test_a_taken_443_turns_the_gateway_off_and_says_why(tmp_path: Path, peers: list[Peer]) -> None:
    import socket

    from tests.support.hub import next_address

    host = next_address()
    with socket.socket() as squatter:
        squatter.bind((host, 443))
        squatter.listen()
        hub = HubThread(tmp_path, ["callee"], {}, host=host, gateway_port=443).start()
        try:
            error = hub.run(lambda: hub.hub.gateway_error)
            assert error is not None
            assert error.startswith(f"cannot listen on {host}:443 (")
            assert error.endswith("module-to-module methods, methods on leaf devices and MQTT over WebSockets are off")
            callee = module_peer(hub, "callee")  # 8883 serves as before
            peers.append(callee)
            callee.expect("ready")
            hub.wait_for(lambda: listens_for_methods(hub.hub, "callee"))
            assert hub.call(hub.hub.invoke_method("callee", "echo", 1, 10)) == (200, {"echo": 1})
        finally:
            hub.stop()
