"""Leaf (downstream) devices through the gateway: real ``IoTHubDeviceClient`` processes over TLS.

Telemetry enters routing as edgeHub's does (``$connectionDeviceId`` set, no ``$connectionModuleId``),
twins and methods work per device, cloud-to-device messages wait for a device that is offline
(until their TTL), and no identity can act as another.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgesim import sas
from edgesim.message import Message
from tests.support.hub import DEVICE, HubThread, Peer, device_peer, listens_for_methods, module_peer

pytestmark = pytest.mark.integration

ROUTES = {
    "leafToModule": "FROM /messages/* WHERE NOT IS_DEFINED($connectionModuleId) "
    'INTO BrokeredEndpoint("/modules/sink/inputs/leaf")',
    "leafUp": "FROM /messages/* WHERE NOT IS_DEFINED($connectionModuleId) INTO $upstream",
    "sinkUp": "FROM /messages/modules/sink/outputs/* INTO $upstream",
}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubThread]:
    thread = HubThread(
        tmp_path,
        ["sink", "caller"],
        ROUTES,
        gateway_port=443,
        devices={"d1": sas.generate_key(), "d2": sas.generate_key()},
    ).start()
    yield thread
    thread.stop()


def _start(peers: list[Peer], peer: Peer) -> Peer:
    peers.append(peer)
    peer.expect("ready")
    return peer


def test_two_leaf_devices_telemetry_twins_methods_and_c2d(hub: HubThread, peers: list[Peer]) -> None:
    sink = _start(peers, module_peer(hub, "sink"))
    caller = _start(peers, module_peer(hub, "caller"))
    d1, d2 = _start(peers, device_peer(hub, "d1")), _start(peers, device_peer(hub, "d2"))

    # telemetry: to the module (WHERE NOT IS_DEFINED($connectionModuleId)) and to $upstream
    d1.send("", {"t": 1}, site="a")
    d2.send("", {"t": 2})
    got = sorted((sink.expect("message") for _ in range(2)), key=lambda m: m["properties"]["$.cdid"])
    assert [(m["input"], json.loads(m["body"]), m["properties"]) for m in got] == [
        ("leaf", {"t": 1}, {"site": "a", "$.cdid": "d1"}),
        ("leaf", {"t": 2}, {"$.cdid": "d2"}),
    ]
    sink.send("out", {"from": "sink"})  # a module's message does not match the leaf routes
    hub.wait_for(lambda: len(hub.hub.upstream_since(0)) == 3)
    records = hub.run(lambda: hub.hub.upstream_since(0))
    leaf = sorted(
        (r for r in records if "connectionModuleId" not in r.system_properties),
        key=lambda r: r.system_properties["connectionDeviceId"],
    )
    assert [(r.system_properties["connectionDeviceId"], json.loads(r.body)) for r in leaf] == [
        ("d1", {"t": 1}),
        ("d2", {"t": 2}),
    ]
    assert hub.run(lambda: hub.hub.stats())["delivered"] == 2  # nothing of the sink's own went back to it

    # twins: reported patches, desired patches reach only that device
    d1.command(op="report", patch={"firmware": "1.0"})
    d1.expect("reported")
    assert hub.run(lambda: hub.hub.get_twin("devices/d1"))["reported"]["firmware"] == "1.0"
    assert "firmware" not in hub.run(lambda: hub.hub.get_twin("devices/d2"))["reported"]
    hub.call(hub.hub.patch_desired("devices/d2", {"interval": 5}))
    assert d2.expect("desired")["patch"]["interval"] == 5
    d2.command(op="twin")
    assert d2.expect("twin")["twin"]["desired"]["interval"] == 5
    d1.command(op="twin")
    assert "interval" not in d1.expect("twin")["twin"]["desired"]

    # methods: from the control side, and from a module over HTTPS (POST /twins/{device}/methods)
    hub.wait_for(lambda: listens_for_methods(hub.hub, "devices/d1") and listens_for_methods(hub.hub, "devices/d2"))
    assert hub.call(hub.hub.invoke_method("devices/d2", "reboot", {"now": True}, 10)) == (200, {"echo": {"now": True}})
    assert d2.expect("method")["name"] == "reboot"
    caller.command(
        op="invoke", device="d1", params={"methodName": "blink", "payload": 3, "responseTimeoutInSeconds": 10}
    )
    assert caller.expect("invoked")["response"] == {"status": 200, "payload": {"echo": 3}}
    assert d1.expect("method") == {"event": "method", "name": "blink", "payload": 3}

    # cloud-to-device: online, then queued while offline (one message outlives its TTL, one does not)
    hub.call(hub.hub.send_to_device("d1", Message(b'{"cmd": "on"}', {"p": "1"}, {"messageId": "m1"}), 60))
    online = d1.expect("message")
    assert (online["body"], online["properties"], online["message_id"]) == ('{"cmd": "on"}', {"p": "1"}, "m1")
    d2.close()
    hub.wait_for(lambda: "d2" not in hub.hub.connected_devices())
    hub.call(hub.hub.send_to_device("d2", Message(b"short-lived", {}, {"messageId": "gone"}), 0.2))
    hub.call(hub.hub.send_to_device("d2", Message(b"kept", {}, {"messageId": "kept"}), 300))
    hub.wait_for(lambda: hub.hub.stats()["expired"] == 1)  # the hub's sweep removes it
    again = _start(peers, device_peer(hub, "d2"))
    later = again.expect("message")
    assert (later["body"], later["message_id"]) == ("kept", "kept")
    again.command(op="twin")  # a round trip: had the expired message been sent, it would have come first
    again.expect("twin")
    assert not any(event["event"] == "message" for event in again.backlog)


@pytest.mark.parametrize(
    "case",
    ["device as another device", "device as a module", "module key as a device", "module key as the edge device"],
)
def test_no_identity_acts_as_another(hub: HubThread, peers: list[Peer], case: str) -> None:
    d1_key, module_key = hub.hub.devices["d1"], hub.keys["sink"]
    if case == "device as another device":
        peer = device_peer(hub, "d2", "no-retry", key=d1_key)
    elif case == "device as a module":
        peer = module_peer(hub, "sink", "no-retry", key=d1_key)
    elif case == "module key as a device":
        peer = device_peer(hub, "d1", "no-retry", key=module_key)
    else:
        from tests.support.hub import EdgePeer

        connection_string = hub.device_connection_string("d1", module_key).replace("DeviceId=d1", f"DeviceId={DEVICE}")
        peer = EdgePeer("device", connection_string, hub.certs.ca_cert, DEVICE, "no-retry")
    peers.append(peer)
    error = peer.expect("error")["error"]
    assert "Connection Refused" in error, error  # CONNACK 2 (identifier rejected) or 5 (not authorised)
    assert hub.run(lambda: hub.hub.connected_devices()) == frozenset()
    assert hub.run(lambda: hub.hub.connected_modules()) == frozenset()
