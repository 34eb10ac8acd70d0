"""The hub's MQTT 3.1.1 codec against the standard's byte layouts (OASIS MQTT 3.1.1, chapters 2 and 3).

Expected bytes are written out from the standard here, not taken from the encoder: a fixed header
is the packet type in the high nibble and flags in the low one (2.2), then the remaining length
(2.2.3); strings are a 2-byte big-endian length and UTF-8 (1.5.3).
"""

from __future__ import annotations

import struct

import pytest

from edgesim.hub import codec


def utf8(text: str) -> bytes:
    """An MQTT UTF-8 encoded string (1.5.3): 2-byte big-endian length, then the bytes."""
    raw = text.encode("utf-8")
    return struct.pack("!H", len(raw)) + raw


def one(data: bytes, max_packet_bytes: int = 1 << 20) -> codec.Packet:
    """Decode exactly one whole packet from ``data``."""
    packets = codec.Decoder(max_packet_bytes).feed(data)
    assert len(packets) == 1, packets
    return packets[0]


# ---- remaining length (2.2.3): the standard's own table of boundaries ------------------------------
REMAINING_LENGTHS = [
    (0, b"\x00"),
    (127, b"\x7f"),
    (128, b"\x80\x01"),
    (16_383, b"\xff\x7f"),
    (16_384, b"\x80\x80\x01"),
    (2_097_151, b"\xff\xff\x7f"),
    (2_097_152, b"\x80\x80\x80\x01"),
]


@pytest.mark.parametrize(("length", "encoded"), REMAINING_LENGTHS)
def test_remaining_length_on_the_wire(length: int, encoded: bytes) -> None:
    topic = "t"
    payload = b"p" * (length - len(utf8(topic))) if length >= len(utf8(topic)) else None
    if payload is None:  # only the empty packets have a remaining length below a topic's 3 bytes
        assert codec.encode_pingresp() == b"\xd0" + encoded
        return
    frame = codec.encode_publish(topic, payload)
    assert frame[: 1 + len(encoded)] == bytes([codec.PUBLISH << 4]) + encoded
    assert len(frame) == 1 + len(encoded) + length
    assert one(frame, max_packet_bytes=length) == codec.Publish(topic, payload)


def test_remaining_length_maximum_is_four_bytes() -> None:
    # 268,435,455 = 0xFF 0xFF 0xFF 0x7F is the largest; the decoder refuses it by size, not by form.
    with pytest.raises(codec.ProtocolError, match="over the limit"):
        codec.Decoder(1024).feed(b"\x30\xff\xff\xff\x7f")
    assert codec.MAX_REMAINING_LENGTH == 127 * (1 + 128 + 128**2 + 128**3) == 2**28 - 1


def test_a_fifth_remaining_length_byte_is_malformed() -> None:
    with pytest.raises(codec.ProtocolError, match="more than 4 bytes"):
        codec.Decoder().feed(b"\x30\x80\x80\x80\x80\x01")


def test_a_packet_over_the_size_limit_is_refused_before_its_body_arrives() -> None:
    decoder = codec.Decoder(max_packet_bytes=127)
    with pytest.raises(codec.ProtocolError, match="over the limit of 127"):
        decoder.feed(b"\x30\x80\x01")  # announces 128 bytes


# ---- incremental decoding ---------------------------------------------------------------------------
def test_packets_decode_from_any_split_of_the_stream() -> None:
    stream = (
        b"\xc0\x00"  # PINGREQ
        + b"\x32"
        + bytes([2 + 3 + 2 + 5])
        + utf8("a/b")
        + b"\x00\x07"
        + b"hello"  # PUBLISH QoS 1, id 7
        + b"\xe0\x00"
    )  # DISCONNECT
    expected = [
        codec.Simple(codec.PINGREQ),
        codec.Publish("a/b", b"hello", qos=1, packet_id=7),
        codec.Simple(codec.DISCONNECT),
    ]
    for split in range(len(stream) + 1):
        decoder = codec.Decoder()
        assert decoder.feed(stream[:split]) + decoder.feed(stream[split:]) == expected
    decoder = codec.Decoder()
    assert [p for byte in stream for p in decoder.feed(bytes([byte]))] == expected


def test_nothing_comes_out_until_a_packet_is_whole() -> None:
    decoder = codec.Decoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\x30") == []
    assert decoder.feed(b"\x05" + utf8("ab")) == []
    assert decoder.feed(b"x") == [codec.Publish("ab", b"x")]


# ---- every packet type: encode (where the hub sends it) and decode (where a client sends it) --------
def test_connect_round_trip_and_layout() -> None:
    frame = codec.encode_connect(
        "dev/mod", "hub/dev/mod/?api-version=2019-10-01", b"SharedAccessSignature x", keepalive=300, clean_session=True
    )
    body = (
        utf8("MQTT")
        + b"\x04"
        + bytes([0x80 | 0x40 | 0x02])
        + struct.pack("!H", 300)
        + utf8("dev/mod")
        + utf8("hub/dev/mod/?api-version=2019-10-01")
        + utf8("SharedAccessSignature x")
    )
    assert frame == b"\x10" + bytes([len(body)]) + body
    assert one(frame) == codec.Connect(
        "dev/mod", "hub/dev/mod/?api-version=2019-10-01", b"SharedAccessSignature x", 300, True, False
    )


def test_connect_without_credentials_and_with_a_will() -> None:
    assert one(codec.encode_connect("c")) == codec.Connect("c", None, None, 60, False, False)
    # Will flag (0x04) with will QoS 1 (0x08): will topic and message follow the client id (3.1.3).
    body = utf8("MQTT") + b"\x04" + bytes([0x04 | 0x08]) + b"\x00\x0a" + utf8("c") + utf8("will/t") + utf8("bye")
    assert one(b"\x10" + bytes([len(body)]) + body) == codec.Connect("c", None, None, 10, False, True)


def test_connack_layout() -> None:
    # 3.2: 0x20, remaining length 2, acknowledge flags (bit 0: session present), return code.
    assert codec.encode_connack(True, codec.ACCEPTED) == b"\x20\x02\x01\x00"
    assert codec.encode_connack(False, codec.ACCEPTED) == b"\x20\x02\x00\x00"
    # 3.2.2.2: session present must be 0 with a non-zero return code.
    assert codec.encode_connack(True, codec.REFUSED_NOT_AUTHORIZED) == b"\x20\x02\x00\x05"
    assert [
        codec.ACCEPTED,
        codec.REFUSED_PROTOCOL,
        codec.REFUSED_IDENTIFIER,
        codec.REFUSED_UNAVAILABLE,
        codec.REFUSED_BAD_CREDENTIALS,
        codec.REFUSED_NOT_AUTHORIZED,
    ] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("qos", "packet_id", "dup"), [(0, None, False), (1, 1, False), (1, 65535, True), (2, 9, False)]
)
def test_publish_round_trip_and_layout(qos: int, packet_id: int | None, dup: bool) -> None:
    frame = codec.encode_publish("devices/d/modules/m/inputs/in/%24.mid=1", b"\x00{}\xff", qos, packet_id, dup)
    variable = utf8("devices/d/modules/m/inputs/in/%24.mid=1") + (struct.pack("!H", packet_id) if qos else b"")
    body = variable + b"\x00{}\xff"
    assert frame == bytes([0x30 | (0x08 if dup else 0) | qos << 1, len(body)]) + body
    assert one(frame) == codec.Publish(
        "devices/d/modules/m/inputs/in/%24.mid=1", b"\x00{}\xff", qos, packet_id, False, dup
    )


def test_publish_retain_flag_and_empty_payload() -> None:
    assert one(b"\x31" + bytes([3]) + utf8("t")) == codec.Publish("t", b"", 0, None, True, False)


@pytest.mark.parametrize(
    ("kind", "first_byte"),
    [(codec.PUBACK, 0x40), (codec.PUBREC, 0x50), (codec.PUBREL, 0x62), (codec.PUBCOMP, 0x70), (codec.UNSUBACK, 0xB0)],
)
def test_packet_id_packets(kind: int, first_byte: int) -> None:
    # 3.4 - 3.7, 3.11: remaining length 2, the packet id; PUBREL's flags are 0010 (3.6.1).
    assert one(bytes([first_byte, 2, 0x12, 0x34])) == codec.PacketId(kind, 0x1234)


def test_puback_and_unsuback_encoding() -> None:
    assert codec.encode_puback(0x0102) == b"\x40\x02\x01\x02"
    assert one(codec.encode_puback(513)) == codec.PacketId(codec.PUBACK, 513)
    assert codec.encode_unsuback(7) == b"\xb0\x02\x00\x07"
    assert one(codec.encode_unsuback(7)) == codec.PacketId(codec.UNSUBACK, 7)


def test_subscribe_round_trip_and_layout() -> None:
    filters = [("devices/d/modules/m/inputs/#", 1), ("$iothub/twin/res/#", 0), ("$iothub/methods/POST/#", 2)]
    frame = codec.encode_subscribe(10, filters)
    body = b"\x00\x0a" + b"".join(utf8(topic) + bytes([qos]) for topic, qos in filters)
    assert frame == b"\x82" + bytes([len(body)]) + body  # 3.8.1: flags 0010
    assert one(frame) == codec.Subscribe(10, tuple(filters))


def test_suback_layout() -> None:
    # 3.9: 0x90, packet id, one return code per filter (0x80 = failure).
    assert codec.encode_suback(10, [1, 0, codec.SUBACK_FAILURE]) == b"\x90\x05\x00\x0a\x01\x00\x80"


def test_unsubscribe_decodes() -> None:
    body = b"\x00\x03" + utf8("a/#") + utf8("b")
    assert one(b"\xa2" + bytes([len(body)]) + body) == codec.Unsubscribe(3, ("a/#", "b"))  # 3.10.1: flags 0010


@pytest.mark.parametrize(
    ("kind", "first_byte"), [(codec.PINGREQ, 0xC0), (codec.PINGRESP, 0xD0), (codec.DISCONNECT, 0xE0)]
)
def test_empty_packets(kind: int, first_byte: int) -> None:
    assert one(bytes([first_byte, 0])) == codec.Simple(kind)


def test_pingresp_encoding() -> None:
    assert codec.encode_pingresp() == b"\xd0\x00"


def test_packet_type_numbers_are_the_standards() -> None:
    numbers = (
        codec.CONNECT,
        codec.CONNACK,
        codec.PUBLISH,
        codec.PUBACK,
        codec.PUBREC,
        codec.PUBREL,
        codec.PUBCOMP,
        codec.SUBSCRIBE,
        codec.SUBACK,
        codec.UNSUBSCRIBE,
        codec.UNSUBACK,
        codec.PINGREQ,
        codec.PINGRESP,
        codec.DISCONNECT,
    )
    assert numbers == tuple(range(1, 15))


# ---- malformed input: ProtocolError, never another exception -----------------------------------------
def connect_body(flags: int, protocol: str = "MQTT", level: int = 4, rest: bytes = b"") -> bytes:
    body = utf8(protocol) + bytes([level, flags]) + b"\x00\x3c" + utf8("c") + rest
    return b"\x10" + bytes([len(body)]) + body


MALFORMED = {
    "reserved type 0": b"\x00\x00",
    "reserved type 15": b"\xf0\x00",
    "CONNACK from a client": b"\x20\x02\x00\x00",
    "SUBACK from a client": b"\x90\x03\x00\x01\x00",
    "CONNECT with header flags": b"\x11" + connect_body(0)[1:],
    "CONNECT reserved flag": connect_body(0x01),
    "CONNECT of MQTT 3.1 (MQIsdp, level 3)": connect_body(0, "MQIsdp", 3),
    "CONNECT level 5": connect_body(0, "MQTT", 5),
    "CONNECT will QoS without a will": connect_body(0x08),
    "CONNECT password without a user name": connect_body(0x40, rest=utf8("pw")),
    "CONNECT trailing bytes": connect_body(0, rest=b"\x00"),
    "CONNECT client id not UTF-8": b"\x10\x0d" + utf8("MQTT") + b"\x04\x00\x00\x3c\x00\x01\xff",
    "CONNECT client id with U+0000": b"\x10\x0d" + utf8("MQTT") + b"\x04\x00\x00\x3c\x00\x01\x00",
    "CONNECT ends early": b"\x10\x04" + utf8("MQ"),
    "PUBLISH QoS 3": b"\x36\x05" + utf8("t") + b"\x00\x01",
    "PUBLISH empty topic": b"\x30\x02\x00\x00",
    "PUBLISH topic with +": b"\x30\x05" + utf8("a/+"),
    "PUBLISH topic with #": b"\x30\x05" + utf8("a/#"),
    "PUBLISH packet id 0": b"\x32\x05" + utf8("t") + b"\x00\x00",
    "PUBLISH topic longer than the packet": b"\x30\x03\x00\x09a",
    "PUBACK of 3 bytes": b"\x40\x03\x00\x01\x00",
    "PUBACK with flags": b"\x41\x02\x00\x01",
    "PUBREL without its flags": b"\x60\x02\x00\x01",
    "SUBSCRIBE without its flags": b"\x80\x06\x00\x01" + utf8("a") + b"\x01",
    "SUBSCRIBE QoS 3": b"\x82\x06\x00\x01" + utf8("a") + b"\x03",
    "SUBSCRIBE no filters": b"\x82\x02\x00\x01",
    "SUBSCRIBE packet id 0": b"\x82\x06\x00\x00" + utf8("a") + b"\x01",
    "SUBSCRIBE empty filter": b"\x82\x05\x00\x01\x00\x00\x01",
    "UNSUBSCRIBE without its flags": b"\xa0\x05\x00\x01" + utf8("a"),
    "UNSUBSCRIBE no filters": b"\xa2\x02\x00\x01",
    "PINGREQ with a body": b"\xc0\x01\x00",
    "DISCONNECT with flags": b"\xe1\x00",
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_packets_are_protocol_errors(data: bytes) -> None:
    with pytest.raises(codec.ProtocolError):
        codec.Decoder().feed(data)


def test_decode_packet_is_the_decoders_body_step() -> None:
    assert codec.decode_packet(codec.PUBLISH, 0, utf8("t") + b"x") == codec.Publish("t", b"x")
    with pytest.raises(codec.ProtocolError):
        codec.decode_packet(codec.CONNACK, 0, b"\x00\x00")
