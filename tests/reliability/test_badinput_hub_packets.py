"""Bad MQTT at the hub while real SDK modules keep talking: only the bad connection closes.

Two unmodified azure-iot-device modules (``a`` -> ``b``, separate processes, TLS, SAS) exchange
one message after every bad input; the bad inputs come from other connections (a third identity
``c``, or no identity at all). Every bad connection must be closed by the hub, be counted
(``protocol_errors`` / ``forbidden`` / ``rejected`` / ``auth_failures``), and leave no exception
unhandled on the hub's loop; the good pair must have exchanged exactly one message per input.
"""

from __future__ import annotations

import contextlib
import json
import random
import ssl
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from edgesim.hub import codec
from edgesim.hub.server import MAX_PACKET_BYTES
from tests.support.badinput import (
    WatchedHub,
    closed_by_server,
    connect_frame,
    read_connack,
    tls_socket,
    token,
)
from tests.support.hub import DEVICE, Peer
from tests.support.mqttwire import FrameReader, frame, remaining_length, utf8

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
ROUTES = {"aToB": 'FROM /messages/modules/a/outputs/out INTO BrokeredEndpoint("/modules/b/inputs/in")'}
FRAMES = 250  # hypothesis examples of must-close frames after CONNECT
PRE_CONNECT = 120  # ... instead of CONNECT
TOPICS = 250  # random PUBLISH topics and payloads from an authenticated module
TRUNCATED = 24  # streams that stop in the middle of a packet (after CONNECT)
TRUNCATED_CONNECT = 8  # ... in the middle of CONNECT
# No shrinking: each example costs a TLS connection; a failure is reported as generated.
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": list(HealthCheck),
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],
}
COUNTERS = ("protocol_errors", "forbidden", "rejected", "auth_failures")


@dataclass
class World:
    hub: WatchedHub
    a: Peer
    b: Peer
    exchanged: int = 0
    bad_inputs: int = 0
    rounds: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def exchange(self) -> None:
        """One message a -> b through the hub with the real SDK; fails if the good pair is disturbed."""
        self.exchanged += 1
        self.a.send("out", {"n": self.exchanged})
        received = self.b.expect("input", timeout=30)
        assert json.loads(received["body"]) == {"n": self.exchanged}

    def after_bad(self, inputs: int = 1) -> None:
        """Count ``inputs`` bad inputs, then check the good pair still exchanges a message."""
        self.bad_inputs += inputs
        self.rounds += 1
        self.exchange()

    def counters(self) -> dict[str, int]:
        return self.hub.run(self.counters_on_loop)

    def counters_on_loop(self) -> dict[str, int]:
        stats = cast(Mapping[str, int], self.hub.hub.stats())
        return {name: stats[name] for name in COUNTERS}

    def wait_counted(self, before: dict[str, int], timeout: float = 10) -> str:
        """Wait until one of the bad-input counters moved; returns which (exactly one must, by one)."""
        self.hub.wait_for(lambda: self.counters_on_loop() != before, timeout)
        return expected_outcome(before, self.counters())

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    truncating = [f"t{index}" for index in range(TRUNCATED)]
    hub = WatchedHub(tmp_path_factory.mktemp("hub"), ["a", "b", "c", *truncating], ROUTES).start()
    a, b = Peer(hub, "a"), Peer(hub, "b")
    try:
        a.expect("ready")
        b.expect("ready")
        state = World(hub, a, b)
        state.exchange()
        yield state
        # The good pair went on through everything, and so did the hub.
        state.exchange()
        assert hub.connected() >= {"a", "b"}
        assert hub.call(hub.hub.invoke_method("b", "ping", {"after": "fuzz"}, 10)) == (200, {"echo": {"after": "fuzz"}})
        assert hub.unhandled_errors() == []
        assert state.exchanged == state.rounds + 2  # one good exchange after every bad input (or batch), two more
        print(
            f"\nhub fuzz: {state.bad_inputs} bad inputs, {state.exchanged} good a->b exchanges, "
            f"outcomes {dict(sorted(state.outcomes.items()))}"
        )
    finally:
        a.close()
        b.close()
        hub.stop()


def authenticated(world: World, keepalive: int = 60) -> ssl.SSLSocket:
    sock = tls_socket(world.hub)
    sock.sendall(connect_frame("c", token("c", world.hub.keys["c"]), keepalive=keepalive, clean=True))
    assert read_connack(sock) == codec.ACCEPTED
    return sock


def s(text: str) -> bytes:
    return utf8(text)


# ---- generators of frames that MQTT 3.1.1 (or IoT Hub) forbids a client to send ---------------
VALID_BODIES = {
    codec.PUBLISH: s("devices/testdevice/modules/c/messages/events/") + b"\x00\x01{}",
    codec.PUBACK: b"\x00\x01",
    codec.SUBSCRIBE: b"\x00\x02" + s("$iothub/methods/POST/#") + b"\x01",
    codec.UNSUBSCRIBE: b"\x00\x03" + s("$iothub/methods/POST/#"),
    codec.PINGREQ: b"",
    codec.DISCONNECT: b"",
}
ALLOWED_FLAGS = {
    codec.PUBACK: {0},
    codec.SUBSCRIBE: {2},
    codec.UNSUBSCRIBE: {2},
    codec.PINGREQ: {0},
    codec.DISCONNECT: {0},
    codec.CONNECT: {0},
}


@st.composite
def wrong_flags(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(sorted(ALLOWED_FLAGS)))
    flags = draw(st.integers(0, 15).filter(lambda f: f not in ALLOWED_FLAGS[kind]))
    body = connect_frame("c", "x")[2:] if kind == codec.CONNECT else VALID_BODIES[kind]
    return frame(kind << 4 | flags, body)


@st.composite
def bad_publish_flags(draw: st.DrawFn) -> bytes:
    qos = draw(st.sampled_from([2, 3]))  # QoS 3 does not exist; IoT Hub has no QoS 2
    return frame(
        codec.PUBLISH << 4 | qos << 1 | draw(st.integers(0, 1)) | draw(st.sampled_from([0, 8])),
        VALID_BODIES[codec.PUBLISH],
    )


@st.composite
def forbidden_type(draw: st.DrawFn) -> bytes:
    # Server-to-client types, reserved types, the QoS 2 flow, a second CONNECT: random bodies.
    kind = draw(
        st.sampled_from(
            [
                0,
                codec.CONNACK,
                codec.PUBREC,
                codec.PUBREL,
                codec.PUBCOMP,
                codec.SUBACK,
                codec.UNSUBACK,
                codec.PINGRESP,
                15,
            ]
        )
    )
    flags = 2 if kind == codec.PUBREL else draw(st.integers(0, 15))
    body = draw(st.binary(max_size=40)) if kind not in (codec.PUBREC, codec.PUBREL, codec.PUBCOMP) else b"\x00\x09"
    return frame(kind << 4 | flags, body)


@st.composite
def field_overrun(draw: st.DrawFn) -> bytes:
    # A complete frame whose inner length-prefixed field claims more bytes than the frame holds.
    kind = draw(st.sampled_from([codec.PUBLISH, codec.SUBSCRIBE, codec.UNSUBSCRIBE]))
    claimed = draw(st.integers(1, 65535))
    present = draw(st.binary(max_size=min(claimed - 1, 30)))
    if kind == codec.PUBLISH:
        return frame(codec.PUBLISH << 4 | 2, struct.pack("!H", claimed) + present)
    return frame(kind << 4 | 2, b"\x00\x05" + struct.pack("!H", claimed) + present)


@st.composite
def bad_fields(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 6))
    if choice == 0:  # PUBLISH topic with wildcards or empty
        topic = draw(st.sampled_from(["", "#", "a/+/b", "devices/testdevice/modules/c/messages/events/#"]))
        return frame(codec.PUBLISH << 4 | 2, s(topic) + b"\x00\x01x")
    if choice == 1:  # packet id 0
        return frame(codec.PUBLISH << 4 | 2, s("devices/testdevice/modules/c/messages/events/") + b"\x00\x00x")
    if choice == 2:  # not UTF-8, or U+0000, in a string
        raw = draw(st.sampled_from([b"\xff\xfe", b"a\x00b", b"\xc3", b"\xed\xa0\x80"]))
        return frame(codec.PUBLISH << 4 | 2, struct.pack("!H", len(raw)) + raw + b"\x00\x01x")
    if choice == 3:  # SUBSCRIBE with QoS > 2, no filters, or an empty filter
        body = draw(
            st.sampled_from(
                [
                    b"\x00\x01" + s("$iothub/methods/POST/#") + b"\x03",
                    b"\x00\x01",
                    b"\x00\x01" + s("") + b"\x01",
                    b"\x00\x00" + s("x") + b"\x01",
                ]
            )
        )
        return frame(codec.SUBSCRIBE << 4 | 2, body)
    if choice == 4:  # UNSUBSCRIBE without filters
        return frame(codec.UNSUBSCRIBE << 4 | 2, b"\x00\x01")
    if choice == 5:  # PUBACK / PINGREQ / DISCONNECT with the wrong body length
        kind = draw(st.sampled_from([codec.PUBACK, codec.PINGREQ, codec.DISCONNECT]))
        body = draw(st.binary(min_size=1, max_size=5).filter(lambda b: kind != codec.PUBACK or len(b) != 2))
        return frame(kind << 4, body)
    # Outside the identity: publish as another module (IoT Hub closes the connection).
    other = draw(st.sampled_from(["a", "b", "ghost"]))
    return frame(codec.PUBLISH << 4 | 2, s(f"devices/{DEVICE}/modules/{other}/messages/events/") + b"\x00\x01{}")


@st.composite
def oversized(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 2))
    if choice == 0:  # declares more than the hub accepts (checked before the body is read)
        length = draw(st.integers(MAX_PACKET_BYTES + 1, codec.MAX_REMAINING_LENGTH))
        return bytes([codec.PUBLISH << 4 | 2]) + remaining_length(length) + draw(st.binary(max_size=20))
    if choice == 1:  # a remaining length of five bytes
        return bytes([codec.PUBLISH << 4 | 2, 0xFF, 0xFF, 0xFF, 0xFF, draw(st.integers(0, 255))])
    # a real message over IoT Hub's 256 KB limit
    size = draw(st.integers(256 * 1024 + 1, 256 * 1024 + 2048))
    return codec.encode_publish(f"devices/{DEVICE}/modules/c/messages/events/", b"x" * size, qos=1, packet_id=1)


@st.composite
def random_after_invalid_header(draw: st.DrawFn) -> bytes:
    # A random body behind a first byte no client may send (a type, or flags, that do not exist).
    first = draw(st.sampled_from([0x00, 0x0F, 0x20, 0x2F, 0x90, 0xB0, 0xD0, 0xF0, 0xFF, 0x36, 0x10 | 1]))
    return frame(first, draw(st.binary(max_size=200)))


MUST_CLOSE = st.one_of(
    wrong_flags(),
    bad_publish_flags(),
    forbidden_type(),
    field_overrun(),
    bad_fields(),
    oversized(),
    random_after_invalid_header(),
    st.just(connect_frame("c", "second connect")),
)


def expected_outcome(before: dict[str, int], after: dict[str, int]) -> str:
    changed = [name for name in COUNTERS if after[name] != before[name]]
    assert len(changed) == 1, f"exactly one counter must move for a bad connection: {before} -> {after}"
    assert after[changed[0]] == before[changed[0]] + 1
    return changed[0]


@settings(max_examples=FRAMES, **SETTINGS)
@given(garbage=MUST_CLOSE, chunked=st.booleans())
def test_bad_frames_after_connect_close_only_that_connection(world: World, garbage: bytes, chunked: bool) -> None:
    before = world.counters()
    sock = authenticated(world)
    try:
        if chunked and len(garbage) > 2:  # the same bytes, split across TLS records
            sock.sendall(garbage[:2])
            sock.sendall(garbage[2:])
        else:
            sock.sendall(garbage)
    except (ConnectionError, ssl.SSLError, OSError):
        pass  # the hub may close while a large frame is still being written
    assert closed_by_server(sock), f"the hub kept a connection open after {garbage[:40]!r}"
    sock.close()
    world.hub.wait_for(lambda: "c" not in world.hub.hub.connected_modules())
    world.count(world.wait_counted(before))
    world.after_bad(1)


PRE_CONNECT_FRAMES = st.one_of(
    # A first packet that is not CONNECT, or a CONNECT that breaks the protocol or carries nonsense.
    st.sampled_from(list(VALID_BODIES)).map(
        lambda kind: frame(kind << 4 | (2 if kind in (codec.SUBSCRIBE, codec.UNSUBSCRIBE) else 0), VALID_BODIES[kind])
    ),
    forbidden_type(),
    wrong_flags(),
    oversized(),
    random_after_invalid_header(),
    st.builds(lambda body: frame(codec.CONNECT << 4, body), st.binary(max_size=120)),
    st.builds(
        lambda proto, level: frame(codec.CONNECT << 4, s(proto) + bytes([level, 0x02, 0, 60]) + s("x")),
        st.sampled_from(["MQTT", "MQIsdp", "HTTP", ""]),
        st.integers(0, 255).filter(lambda v: v != 4),
    ),
    st.builds(
        lambda cid, user, pw: codec.encode_connect(cid, user, pw),
        st.text(max_size=30).filter(lambda t: "\x00" not in t),
        st.none() | st.text(max_size=60).filter(lambda t: "\x00" not in t),
        st.none() | st.binary(max_size=80),
    ),
)


@settings(max_examples=PRE_CONNECT, **SETTINGS)
@given(garbage=PRE_CONNECT_FRAMES)
def test_garbage_instead_of_connect_closes_only_that_connection(world: World, garbage: bytes) -> None:
    before = world.counters()
    sock = tls_socket(world.hub)
    with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
        sock.sendall(garbage)
    code = read_connack(sock)
    assert code != codec.ACCEPTED, f"accepted {garbage[:60]!r}"
    assert closed_by_server(sock)
    sock.close()
    outcome = world.wait_counted(before)
    assert outcome in ("protocol_errors", "auth_failures")
    assert (code is not None) == (outcome == "auth_failures")  # a refusal says why; a protocol error just closes
    assert world.hub.connected() >= {"a", "b"}
    world.count(f"pre-connect {outcome}")
    world.after_bad(1)


# ---- random topics and payloads from an authenticated module: allowed, or closed and counted ----
TOPIC_PREFIXES = [
    f"devices/{DEVICE}/modules/c/messages/events/",
    "$iothub/twin/GET/?$rid=",
    "$iothub/twin/PATCH/properties/reported/?$rid=",
    "$iothub/methods/res/",
    "$iothub/methods/res/200/",
    f"devices/{DEVICE}/modules/a/messages/events/",
    f"devices/{DEVICE}/modules/c/inputs/",
    "$iothub/twin/PATCH/properties/desired/",
    "$iothub/",
    "devices/",
    "",
]
TOPIC_ALPHABET = st.sampled_from([*list("ab019/?&=%$.+#²٣é "), "%24.on", "$rid=", "$.ct=application%2Fjson"])
TOPIC_TEXT = st.lists(TOPIC_ALPHABET, max_size=8).map("".join)
STATUS_TEXT = st.one_of(st.integers(0, 10**12).map(str), st.sampled_from(["²", "٣", "１", "2²", "-1", "", "x"]))
topics = st.one_of(
    st.builds(lambda prefix, tail: prefix + tail, st.sampled_from(TOPIC_PREFIXES), TOPIC_TEXT),
    st.builds(lambda status, rid: f"$iothub/methods/res/{status}/?$rid={rid}", STATUS_TEXT, TOPIC_TEXT),
    st.builds(lambda rid: f"$iothub/twin/PATCH/properties/reported/?$rid={rid}", TOPIC_TEXT),
    st.builds(lambda rid: f"$iothub/twin/GET/?$rid={rid}", TOPIC_TEXT),
)
DEEP = st.integers(1, 1500).map(lambda n: ('{"a":' * n + "1" + "}" * n).encode())
payloads = st.one_of(
    st.binary(max_size=64),
    st.just(b"{}"),
    DEEP,
    st.recursive(
        st.none() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    ).map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture(scope="module")
def topic_connection(world: World) -> Iterator[list[ssl.SSLSocket]]:
    holder = [authenticated(world)]
    yield holder
    holder[0].close()


def publish_and_wait(sock: ssl.SSLSocket, topic: str, payload: bytes, packet_id: int) -> str:
    """'acked' when the hub acknowledged the PUBLISH, 'closed' when it closed the connection."""
    sock.sendall(codec.encode_publish(topic, payload, qos=1, packet_id=packet_id))
    frames = FrameReader(1 << 22)
    sock.settimeout(10)
    while True:
        try:
            data = sock.recv(65536)
        except (ConnectionError, ssl.SSLError, OSError):
            return "closed"
        if not data:
            return "closed"
        for kind, flags, body in frames.feed(data):
            if kind == codec.PUBACK:
                assert struct.unpack("!H", body)[0] == packet_id
                return "acked"
            if kind == codec.PUBLISH and flags & 0x06:  # a twin response to us: acknowledge it
                topic_length = struct.unpack("!H", body[:2])[0]
                sock.sendall(codec.encode_puback(struct.unpack("!H", body[2 + topic_length : 4 + topic_length])[0]))


@settings(max_examples=TOPICS, **SETTINGS)
@given(topic=topics, payload=payloads, packet_id=st.integers(1, 65535))
def test_random_publish_topics_are_served_or_refused_and_counted(
    world: World, topic_connection: list[ssl.SSLSocket], topic: str, payload: bytes, packet_id: int
) -> None:
    before = world.counters()
    outcome = publish_and_wait(topic_connection[0], topic, payload, packet_id)
    if outcome == "acked":
        assert world.counters() == before
        world.count("topic acked")
    else:
        world.hub.wait_for(lambda: "c" not in world.hub.hub.connected_modules())
        counted = world.wait_counted(before, timeout=5)
        assert counted in ("forbidden", "protocol_errors"), counted
        world.count(f"topic {counted}")
        topic_connection[0].close()
        topic_connection[0] = authenticated(world)
    assert world.hub.unhandled_errors() == []
    world.after_bad(1)


def test_streams_that_stop_mid_packet_are_closed_at_keepalive(world: World) -> None:
    """Truncated packets: the hub waits for the rest only until 1.5 x keep-alive (MQTT 3.1.1, 3.1.2.10)."""
    rng = random.Random(9)
    whole = [
        codec.encode_publish(f"devices/{DEVICE}/modules/c/messages/events/", b"p" * 50, qos=1, packet_id=7),
        codec.encode_subscribe(3, [("$iothub/methods/POST/#", 1)]),
        codec.encode_puback(4),
        frame(codec.PINGREQ << 4, b"\x00"),
        bytes([codec.PUBLISH << 4 | 2, 0x80]),
    ]
    before = world.counters()
    sockets = []
    for index in range(TRUNCATED):
        packet = whole[index % len(whole)]
        sock = tls_socket(world.hub)
        module = f"t{index}"  # one identity per connection: a second one would take the first over
        sock.sendall(connect_frame(module, token(module, world.hub.keys[module]), keepalive=1))
        assert read_connack(sock) == codec.ACCEPTED
        sock.sendall(packet[: rng.randrange(1, len(packet))])
        sockets.append(sock)
    for sock in sockets:
        assert closed_by_server(sock, timeout=10)
        sock.close()
    world.hub.wait_for(lambda: not any(m.startswith("t") for m in world.hub.hub.connected_modules()))
    assert world.counters() == before  # a timeout is not a protocol error
    world.after_bad(TRUNCATED)


def test_connect_that_stops_mid_packet_is_closed_at_the_connect_timeout(world: World) -> None:
    rng = random.Random(10)
    connect = connect_frame("c", token("c", world.hub.keys["c"]))
    sockets = [tls_socket(world.hub, timeout=20) for _ in range(TRUNCATED_CONNECT)]
    for sock in sockets:
        sock.sendall(connect[: rng.randrange(1, len(connect))])
    for sock in sockets:
        assert read_connack(sock, timeout=15) is None
        assert closed_by_server(sock, timeout=15)
        sock.close()
    assert world.hub.connected() <= {"a", "b", "c"}  # c: the topic test's connection, if it still runs
    assert world.hub.connected() >= {"a", "b"}
    world.after_bad(TRUNCATED_CONNECT)
