"""The connection layer: bytes <-> MQTT packets over one transport, with the sans-I/O ``codec``.

Nothing here knows identities, topics or the store; ``session`` and the hub build on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from edgesim.hub import codec
from edgesim.message import MAX_MESSAGE_BYTES

CONNECT_TIMEOUT = 10.0
MAX_PACKET_BYTES = MAX_MESSAGE_BYTES + 64 * 1024  # a message plus its topic and property bag
FLUSH_ABOVE_BYTES = 256 * 1024  # a connection waits for its peer only when this much is queued


class Connection:
    """What the MQTT session code needs from a transport; TCP+TLS here, WebSockets in ``gateway``."""

    closed: bool

    def send(self, frame: bytes) -> None:
        raise NotImplementedError

    async def flush(self, force: bool = False) -> None:
        """Wait for the peer to take what was sent: always with ``force``, else only when a lot is queued."""
        raise NotImplementedError

    def is_closed(self) -> bool:
        return self.closed

    def close(self) -> None:
        raise NotImplementedError


class StreamConnection(Connection):
    """A TLS (or any asyncio stream) connection, as on 8883."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.closed = False

    def send(self, frame: bytes) -> None:
        if not self.closed:
            self.writer.write(frame)

    async def flush(self, force: bool = False) -> None:
        if not self.closed and (force or self.writer.transport.get_write_buffer_size() > FLUSH_ABOVE_BYTES):
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            # The transport may already be gone (reset by the peer, TLS torn down): closing is best effort.
            with contextlib.suppress(OSError, RuntimeError):
                self.writer.close()


class PacketReader:
    """MQTT packets from a byte source: ``read()`` returns the next bytes, ``b""`` at the end."""

    def __init__(self, read: Callable[[], Awaitable[bytes]], max_packet_bytes: int = MAX_PACKET_BYTES) -> None:
        self._read = read
        self._decoder = codec.Decoder(max_packet_bytes)

    async def first(self, timeout: float = CONNECT_TIMEOUT) -> list[codec.Packet]:
        """The first packets (at least one) within ``timeout``; ``[]`` when the peer closes first."""
        packets: list[codec.Packet] = []
        async with asyncio.timeout(timeout):
            while not packets:
                data = await self._read()
                if not data:
                    return []
                packets = self._decoder.feed(data)
        return packets

    async def next(self, keepalive: float | None) -> list[codec.Packet] | None:
        """The packets in the next bytes (maybe none); ``None`` at the end. ``TimeoutError`` after
        ``keepalive`` seconds of silence."""
        data = await asyncio.wait_for(self._read(), keepalive) if keepalive else await self._read()
        if not data:
            return None
        return self._decoder.feed(data)
