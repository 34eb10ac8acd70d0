"""A raw MQTT 3.1.1 client over TLS (the simulator's codec on a socket), for what the SDK never sends."""

from __future__ import annotations

import socket
import ssl
import time

from edgesim import sas
from edgesim.hub import codec
from tests.support.hub import DEVICE, HUB_HOSTNAME, HubThread
from tests.support.mqttwire import FrameReader


class RawClient:
    def __init__(self, hub: HubThread, module: str, key: str | None = None) -> None:
        context = ssl.create_default_context(cafile=str(hub.certs.ca_cert))
        context.check_hostname = False
        raw = socket.create_connection((hub.host, 8883), timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname=hub.host)
        self.frames = FrameReader(1 << 22)
        self.pending: list[codec.Packet] = []
        self.module = module
        self.hub = hub
        self.key = key or hub.keys[module]

    def connect(self, clean: bool = False) -> int:
        uri = sas.module_resource_uri(HUB_HOSTNAME, DEVICE, self.module)
        token = sas.build_token(uri, self.key, int(time.time()) + 3600)
        self.sock.sendall(
            codec.encode_connect(
                f"{DEVICE}/{self.module}",
                f"{HUB_HOSTNAME}/{DEVICE}/{self.module}/?api-version=2019-10-01",
                token.encode(),
                keepalive=60,
                clean_session=clean,
            )
        )
        connack = self.read_raw()
        assert connack[0] >> 4 == codec.CONNACK
        return connack[-1]

    def read_raw(self) -> bytes:
        return self.sock.recv(65536)

    def packet(self, timeout: float = 10) -> codec.Packet:
        self.sock.settimeout(timeout)
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.pending += self._decode_server(data)
        return self.pending.pop(0)

    def _decode_server(self, data: bytes) -> list[codec.Packet]:
        # Server packets (PUBLISH, PUBACK) decode with the codec's body step; SUBACK is read raw.
        out: list[codec.Packet] = []
        for kind, flags, body in self.frames.feed(data):
            if kind == codec.SUBACK:
                out.append(codec.PacketId(codec.SUBACK, body[0] << 8 | body[1]))
                self.last_suback = list(body[2:])
            else:
                out.append(codec.decode_packet(kind, flags, body))
        return out

    def subscribe(self, topic: str) -> list[int]:
        self.sock.sendall(codec.encode_subscribe(1, [(topic, 1)]))
        while True:
            packet = self.packet()
            if isinstance(packet, codec.PacketId) and packet.kind == codec.SUBACK:
                return self.last_suback

    def publish(self, topic: str, payload: bytes, packet_id: int = 1) -> None:
        self.sock.sendall(codec.encode_publish(topic, payload, qos=1, packet_id=packet_id))

    def closed_by_server(self, timeout: float = 10) -> bool:
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionError, ssl.SSLError, OSError):
            return True

    def close(self) -> None:
        self.sock.close()
