"""MQTT 3.1.1 packets: the hub's only protocol code, sans-I/O, strict, fuzzed.

Why our own: the hub needs a server-side codec for the eleven packet types MQTT 3.1.1 has, with
incremental decoding over a TLS stream and no I/O of its own. amqtt 0.12 (the maintained Python
broker) ties its packet classes to its asyncio stream adapters (each field is an awaited read)
and brings ~10 runtime dependencies; paho-mqtt's codec is private to its client; mqtt-codec has
not been released since 2019. This module is small, decodes from a byte buffer, and treats
every malformed input as ``ProtocolError`` so only the offending connection closes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

MAX_REMAINING_LENGTH = 268_435_455  # the protocol's own ceiling (4 length bytes)

# CONNACK return codes
ACCEPTED = 0
REFUSED_PROTOCOL = 1
REFUSED_IDENTIFIER = 2
REFUSED_UNAVAILABLE = 3
REFUSED_BAD_CREDENTIALS = 4
REFUSED_NOT_AUTHORIZED = 5
SUBACK_FAILURE = 0x80


class ProtocolError(Exception):
    """The peer broke MQTT 3.1.1; the connection must close."""


@dataclass(frozen=True)
class Connect:
    client_id: str
    username: str | None
    password: bytes | None
    keepalive: int
    clean_session: bool
    will: bool


@dataclass(frozen=True)
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    packet_id: int | None = None
    retain: bool = False
    dup: bool = False


@dataclass(frozen=True)
class PacketId:
    """PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: a type and a packet id."""

    kind: int
    packet_id: int


@dataclass(frozen=True)
class Subscribe:
    packet_id: int
    filters: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Unsubscribe:
    packet_id: int
    filters: tuple[str, ...]


@dataclass(frozen=True)
class Simple:
    """PINGREQ, PINGRESP, DISCONNECT."""

    kind: int


Packet = Connect | Publish | PacketId | Subscribe | Unsubscribe | Simple


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def remaining(self) -> int:
        return len(self.data) - self.offset

    def u8(self) -> int:
        if self.remaining() < 1:
            raise ProtocolError("packet ends early")
        value = self.data[self.offset]
        self.offset += 1
        return value

    def u16(self) -> int:
        if self.remaining() < 2:
            raise ProtocolError("packet ends early")
        (value,) = struct.unpack_from("!H", self.data, self.offset)
        self.offset += 2
        return int(value)

    def binary(self) -> bytes:
        length = self.u16()
        if self.remaining() < length:
            raise ProtocolError("length-prefixed field runs past the packet")
        value = self.data[self.offset : self.offset + length]
        self.offset += length
        return value

    def text(self) -> str:
        raw = self.binary()
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("string is not UTF-8") from None
        if "\x00" in value:
            raise ProtocolError("string contains U+0000")
        return value

    def rest(self) -> bytes:
        value = self.data[self.offset :]
        self.offset = len(self.data)
        return value


def _decode_connect(flags: int, body: bytes) -> Connect:
    if flags != 0:
        raise ProtocolError("CONNECT has reserved flags set")
    r = _Reader(body)
    protocol = r.text()
    level = r.u8()
    if protocol != "MQTT" or level != 4:
        raise ProtocolError(f"unsupported protocol {protocol!r} level {level} (MQTT 3.1.1 only)")
    connect_flags = r.u8()
    if connect_flags & 0x01:
        raise ProtocolError("CONNECT reserved flag is set")
    keepalive = r.u16()
    client_id = r.text()
    will = bool(connect_flags & 0x04)
    if will:
        r.text()  # will topic
        r.binary()  # will message
    elif connect_flags & 0x38:
        raise ProtocolError("will QoS/retain set without a will")
    username = r.text() if connect_flags & 0x80 else None
    password = r.binary() if connect_flags & 0x40 else None
    if password is not None and username is None:
        raise ProtocolError("password without a user name")
    if r.remaining():
        raise ProtocolError("trailing bytes after CONNECT")
    return Connect(client_id, username, password, keepalive, bool(connect_flags & 0x02), will)


def _decode_publish(flags: int, body: bytes) -> Publish:
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise ProtocolError("PUBLISH with QoS 3")
    r = _Reader(body)
    topic = r.text()
    if not topic or "+" in topic or "#" in topic:
        raise ProtocolError("PUBLISH topic is empty or has wildcards")
    packet_id = r.u16() if qos else None
    if packet_id == 0:
        raise ProtocolError("packet id 0")
    return Publish(topic, r.rest(), qos, packet_id, bool(flags & 0x01), bool(flags & 0x08))


def _decode_subscribe(flags: int, body: bytes) -> Subscribe:
    if flags != 0x02:
        raise ProtocolError("SUBSCRIBE must have flags 0010")
    r = _Reader(body)
    packet_id = r.u16()
    filters = []
    while r.remaining():
        topic = r.text()
        qos = r.u8()
        if qos > 2 or not topic:
            raise ProtocolError("bad SUBSCRIBE topic filter or QoS")
        filters.append((topic, qos))
    if not filters or packet_id == 0:
        raise ProtocolError("SUBSCRIBE without filters or with packet id 0")
    return Subscribe(packet_id, tuple(filters))


def _decode_unsubscribe(flags: int, body: bytes) -> Unsubscribe:
    if flags != 0x02:
        raise ProtocolError("UNSUBSCRIBE must have flags 0010")
    r = _Reader(body)
    packet_id = r.u16()
    filters = []
    while r.remaining():
        filters.append(r.text())
    if not filters:
        raise ProtocolError("UNSUBSCRIBE without filters")
    return Unsubscribe(packet_id, tuple(filters))


def decode_packet(kind: int, flags: int, body: bytes) -> Packet:
    if kind == CONNECT:
        return _decode_connect(flags, body)
    if kind == PUBLISH:
        return _decode_publish(flags, body)
    if kind in (PUBACK, PUBREC, PUBCOMP, UNSUBACK) or kind == PUBREL:
        expected_flags = 0x02 if kind == PUBREL else 0
        if flags != expected_flags or len(body) != 2:
            raise ProtocolError(f"malformed packet of type {kind}")
        return PacketId(kind, struct.unpack("!H", body)[0])
    if kind == SUBSCRIBE:
        return _decode_subscribe(flags, body)
    if kind == UNSUBSCRIBE:
        return _decode_unsubscribe(flags, body)
    if kind in (PINGREQ, PINGRESP, DISCONNECT):
        if flags != 0 or body:
            raise ProtocolError(f"malformed packet of type {kind}")
        return Simple(kind)
    raise ProtocolError(f"a client may not send packet type {kind}")


@dataclass
class Decoder:
    """Feed bytes as they arrive; take whole packets out. Enforces a maximum packet size."""

    max_packet_bytes: int = 1 << 20
    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Packet]:
        self._buffer += data
        packets: list[Packet] = []
        while True:
            header = self._header()
            if header is None:
                return packets
            kind, flags, header_length, remaining = header
            total = header_length + remaining
            if len(self._buffer) < total:
                return packets
            body = bytes(self._buffer[header_length:total])
            del self._buffer[:total]
            packets.append(decode_packet(kind, flags, body))

    def _header(self) -> tuple[int, int, int, int] | None:
        if not self._buffer:
            return None
        first = self._buffer[0]
        multiplier, remaining, index = 1, 0, 1
        while True:
            if index >= len(self._buffer):
                if index > 4:
                    raise ProtocolError("remaining length uses more than 4 bytes")
                return None
            byte = self._buffer[index]
            remaining += (byte & 0x7F) * multiplier
            index += 1
            if not byte & 0x80:
                break
            multiplier *= 128
            if index > 4:
                raise ProtocolError("remaining length uses more than 4 bytes")
        if remaining > self.max_packet_bytes:
            raise ProtocolError(f"packet of {remaining} bytes is over the limit of {self.max_packet_bytes}")
        return first >> 4, first & 0x0F, index, remaining


def _remaining_length(length: int) -> bytes:
    out = bytearray()
    while True:
        byte = length % 128
        length //= 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _frame(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _remaining_length(len(body)) + body


def _string(value: str) -> bytes:
    raw = value.encode("utf-8")
    return struct.pack("!H", len(raw)) + raw


def encode_connack(session_present: bool, code: int) -> bytes:
    return _frame(CONNACK << 4, bytes([1 if session_present and code == ACCEPTED else 0, code]))


def encode_publish(topic: str, payload: bytes, qos: int = 0, packet_id: int | None = None, dup: bool = False) -> bytes:
    header = (PUBLISH << 4) | (qos << 1) | (0x08 if dup else 0)
    body = _string(topic) + (struct.pack("!H", packet_id) if qos and packet_id is not None else b"") + payload
    return _frame(header, body)


def encode_puback(packet_id: int) -> bytes:
    return _frame(PUBACK << 4, struct.pack("!H", packet_id))


def encode_suback(packet_id: int, codes: list[int]) -> bytes:
    return _frame(SUBACK << 4, struct.pack("!H", packet_id) + bytes(codes))


def encode_unsuback(packet_id: int) -> bytes:
    return _frame(UNSUBACK << 4, struct.pack("!H", packet_id))


def encode_pingresp() -> bytes:
    return _frame(PINGRESP << 4, b"")


def encode_connect(
    client_id: str,
    username: str | None = None,
    password: bytes | None = None,
    keepalive: int = 60,
    clean_session: bool = False,
) -> bytes:
    """For tests and tools: a client's CONNECT."""
    flags = (
        (0x02 if clean_session else 0) | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    )
    body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + _string(client_id)
    if username is not None:
        body += _string(username)
    if password is not None:
        body += struct.pack("!H", len(password)) + password
    return _frame(CONNECT << 4, body)


def encode_subscribe(packet_id: int, filters: list[tuple[str, int]]) -> bytes:
    body = struct.pack("!H", packet_id) + b"".join(_string(t) + bytes([q]) for t, q in filters)
    return _frame((SUBSCRIBE << 4) | 0x02, body)
