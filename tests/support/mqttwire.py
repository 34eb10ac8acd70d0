"""MQTT 3.1.1 framing written from the standard (2.2 fixed header, 2.2.3 remaining length, 1.5.3 strings).

For test clients that build or read frames the hub's codec does not give them: arbitrary (also
malformed) packets to send, and the server's packets (CONNACK, SUBACK, PUBLISH, PUBACK) to read.
Independent of ``edgesim.hub.codec`` on purpose: the tests check that codec against this.
"""

from __future__ import annotations

import struct


def remaining_length(length: int) -> bytes:
    """The variable-length encoding of 2.2.3: 7 bits a byte, least significant first, bit 7 = more."""
    out = bytearray()
    while True:
        length, byte = divmod(length, 128)
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def frame(first_byte: int, body: bytes) -> bytes:
    """A whole packet: the first byte (type << 4 | flags), the remaining length, the body."""
    return bytes([first_byte]) + remaining_length(len(body)) + body


def utf8(text: str) -> bytes:
    """A UTF-8 encoded string (1.5.3): its byte length as 2 bytes big-endian, then the bytes."""
    raw = text.encode("utf-8")
    return struct.pack("!H", len(raw)) + raw


class FrameReader:
    """Splits a byte stream into whole packets: ``feed(data)`` -> [(type, flags, body), ...]."""

    def __init__(self, max_packet_bytes: int = 1 << 22) -> None:
        self.max_packet_bytes = max_packet_bytes
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        self.buffer += data
        frames: list[tuple[int, int, bytes]] = []
        while (header := self._header()) is not None:
            header_length, length = header
            if len(self.buffer) < header_length + length:
                break
            first = self.buffer[0]
            frames.append((first >> 4, first & 0x0F, bytes(self.buffer[header_length : header_length + length])))
            del self.buffer[: header_length + length]
        return frames

    def _header(self) -> tuple[int, int] | None:
        """(bytes of the fixed header, remaining length), or None while the header is incomplete."""
        length = 0
        for index in range(1, 5):
            if index >= len(self.buffer):
                return None
            byte = self.buffer[index]
            length += (byte & 0x7F) << (7 * (index - 1))
            if not byte & 0x80:
                if length > self.max_packet_bytes:
                    raise ValueError(f"a packet of {length} bytes is over {self.max_packet_bytes}")
                return index + 1, length
        raise ValueError("a remaining length of more than 4 bytes")
