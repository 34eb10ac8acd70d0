"""The hub at the wire: a raw MQTT client (our codec over TLS) for what the SDK never sends."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgesim import sas
from edgesim.hub import codec
from tests.support.hub import DEVICE, HUB_HOSTNAME, HubThread, Peer
from tests.support.rawmqtt import RawClient

pytestmark = pytest.mark.integration
ROUTES = {"aToB": 'FROM /messages/modules/a/outputs/out INTO BrokeredEndpoint("/modules/b/inputs/in")'}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubThread]:
    hub = HubThread(tmp_path, ["a", "b"], ROUTES).start()
    yield hub
    hub.stop()


def output_topic(module: str, **props: str) -> str:
    bag = "&".join([f"%24.on={props.pop('on', 'out')}"] + [f"{k}={v}" for k, v in props.items()])
    return f"devices/{DEVICE}/modules/{module}/messages/events/{bag}"


def test_stored_messages_go_out_in_order_on_the_wire(hub: HubThread) -> None:
    sender = RawClient(hub, "a")
    assert sender.connect() == codec.ACCEPTED
    for n in range(1, 101):
        sender.publish(output_topic("a"), json.dumps({"n": n}).encode(), packet_id=n)
    acks = [sender.packet() for _ in range(100)]
    assert [p.packet_id for p in acks if isinstance(p, codec.PacketId)] == list(range(1, 101))
    receiver = RawClient(hub, "b")
    assert receiver.connect() == codec.ACCEPTED
    assert receiver.subscribe(f"devices/{DEVICE}/modules/b/inputs/#") == [1]
    seen: list[int] = []
    while len(seen) < 100:
        packet = receiver.packet()
        assert isinstance(packet, codec.Publish)
        seen.append(json.loads(packet.payload)["n"])
        assert packet.topic.startswith(f"devices/{DEVICE}/modules/b/inputs/in/")
        assert "%24.cmid=a" in packet.topic
        receiver.sock.sendall(codec.encode_puback(packet.packet_id or 0))
    assert seen == list(range(1, 101))
    sender.close()
    receiver.close()


def test_a_module_cannot_subscribe_to_another_modules_streams(hub: HubThread) -> None:
    client = RawClient(hub, "a")
    assert client.connect() == codec.ACCEPTED
    assert client.subscribe(f"devices/{DEVICE}/modules/b/inputs/#") == [codec.SUBACK_FAILURE]
    assert client.subscribe("#") == [codec.SUBACK_FAILURE]
    assert client.subscribe("$iothub/methods/POST/#") == [1]
    assert hub.hub.stats()["forbidden"] == 2
    client.close()


@pytest.mark.parametrize(
    "topic",
    [
        f"devices/{DEVICE}/modules/b/messages/events/%24.on=out",  # publishing as another module
        "devices/other/modules/a/messages/events/",
        "$iothub/twin/PATCH/properties/desired/?$rid=1",  # only the service patches desired properties
        "some/random/topic",
    ],
)
def test_publishing_outside_its_identity_closes_only_that_connection(
    hub: HubThread, topic: str, peers: list[Peer]
) -> None:
    bystander = Peer(hub, "b")
    peers.append(bystander)
    bystander.expect("ready")
    client = RawClient(hub, "a")
    assert client.connect() == codec.ACCEPTED
    client.publish(topic, b"{}")
    assert client.closed_by_server()
    assert hub.hub.stats()["forbidden"] == 1
    assert "b" in hub.run(hub.hub.connected_modules)
    assert hub.call(hub.hub.invoke_method("b", "ping", {}, 10))[0] == 200


def test_messages_over_256_kb_are_refused(hub: HubThread) -> None:
    client = RawClient(hub, "a")
    assert client.connect() == codec.ACCEPTED
    client.publish(output_topic("a"), b"x" * (256 * 1024 + 1))
    assert client.closed_by_server()
    assert hub.hub.stats()["rejected"] == 1
    assert hub.hub.stats()["stored"] == 0


@pytest.mark.parametrize(
    "garbage", [b"\xff\xff\xff\xff\xff", b"\x30\x05\x00", b"\x82\x02\x00\x01", b"\x00" * 10, codec.encode_connect("x")]
)
def test_garbage_after_connect_closes_only_that_connection(hub: HubThread, garbage: bytes) -> None:
    good = RawClient(hub, "b")
    assert good.connect() == codec.ACCEPTED
    bad = RawClient(hub, "a")
    assert bad.connect() == codec.ACCEPTED
    bad.sock.sendall(garbage)
    assert bad.closed_by_server()
    good.sock.sendall(codec.encode_subscribe(7, [("$iothub/twin/res/#", 1)]))
    assert good.packet().packet_id == 7  # type: ignore[union-attr]
    good.close()


@pytest.mark.parametrize(
    ("key", "username_module", "code"),
    [
        ("wrong", "a", codec.REFUSED_NOT_AUTHORIZED),
        ("b", "a", codec.REFUSED_NOT_AUTHORIZED),  # b's key for a's identity
    ],
)
def test_bad_credentials_refused(hub: HubThread, key: str, username_module: str, code: int) -> None:
    client = RawClient(hub, username_module, key=sas.generate_key() if key == "wrong" else hub.keys[key])
    assert client.connect() == code
    client.close()


def test_expired_token_refused(hub: HubThread) -> None:
    client = RawClient(hub, "a")
    uri = sas.module_resource_uri(HUB_HOSTNAME, DEVICE, "a")
    token = sas.build_token(uri, hub.keys["a"], int(time.time()) - 10)
    client.sock.sendall(
        codec.encode_connect(f"{DEVICE}/a", f"{HUB_HOSTNAME}/{DEVICE}/a/?api-version=x", token.encode())
    )
    assert client.read_raw()[-1] == codec.REFUSED_NOT_AUTHORIZED
    client.close()


def test_plain_tcp_is_not_offered(hub: HubThread) -> None:
    with socket.create_connection((hub.host, 8883), timeout=10) as sock:
        sock.sendall(codec.encode_connect("x"))
        sock.settimeout(10)
        try:
            answer = sock.recv(100)
        except (ConnectionError, OSError):
            answer = b""
    assert not answer.startswith(bytes([codec.CONNACK << 4]))


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=200))
def test_decoder_fuzz_only_protocol_errors(data: bytes) -> None:
    decoder = codec.Decoder(1 << 16)
    try:
        for packet in decoder.feed(data):
            assert packet is not None
    except codec.ProtocolError:
        pass


@settings(max_examples=500, deadline=None)
@given(
    topic=st.text(min_size=1, max_size=50).filter(lambda t: "+" not in t and "#" not in t and "\x00" not in t),
    payload=st.binary(max_size=300),
    packet_id=st.integers(1, 65535),
    split=st.integers(0, 400),
)
def test_publish_round_trip_in_any_chunking(topic: str, payload: bytes, packet_id: int, split: int) -> None:
    frame = codec.encode_publish(topic, payload, qos=1, packet_id=packet_id)
    decoder = codec.Decoder(1 << 16)
    packets = decoder.feed(frame[:split]) + decoder.feed(frame[split:])
    assert packets == [codec.Publish(topic, payload, 1, packet_id)]
