"""The MQTT face for any broker (paho-mqtt 1.6 API, which azure-iot-device pins).

Requests arrive on ``request_topic`` (default ``edgeship/sentiment/in``) as ``{"text": ...}`` or
``{"texts": [...]}`` with an optional ``"correlation_id"`` (or ``"id"``); replies go to
``response_topic`` (default ``edgeship/sentiment/out``) as
``{"correlation_id": ..., "result": ...}`` or ``{"correlation_id": ..., "error": ...}``.
Everything is QoS 1; paho reconnects with exponential backoff and the persistent session
(``clean_session=False``) keeps the subscription while the module is away.
"""

from __future__ import annotations

import json
import logging
import queue
import ssl
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, urlsplit

from edgeship_sentiment.errors import SentimentModuleError
from edgeship_sentiment.jsontypes import MQTTReply
from edgeship_sentiment.service import Reply, SentimentService
from edgeship_sentiment.tcp import PahoMessage, set_tcp_nodelay

log = logging.getLogger("edgeship_sentiment.mqtt")


class Subscriber(Protocol):
    """The paho client as ``on_connect`` receives it."""

    def subscribe(self, topic: str, qos: int = 0) -> object: ...


@dataclass(frozen=True)
class MqttSettings:
    url: str
    request_topic: str = "edgeship/sentiment/in"
    response_topic: str = "edgeship/sentiment/out"
    client_id: str = "edgeship-sentiment"
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    keepalive: int = 30
    min_reconnect_delay: int = 1
    max_reconnect_delay: int = 60

    @property
    def endpoint(self) -> tuple[bool, str, int]:
        parts = urlsplit(self.url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise SentimentModuleError(f"--mqtt takes mqtt://host:port or mqtts://host:port, got {self.url!r}")
        tls = parts.scheme == "mqtts"
        return tls, parts.hostname, parts.port or (8883 if tls else 1883)

    def credentials(self) -> tuple[str | None, str | None]:
        parts = urlsplit(self.url)
        user = self.username or (unquote(parts.username) if parts.username else None)
        password = self.password or (unquote(parts.password) if parts.password else None)
        return user, password


class MqttFace:
    def __init__(self, service: SentimentService, settings: MqttSettings) -> None:
        import paho.mqtt.client as mqtt

        self.service = service
        self.settings = settings
        tls, self.host, self.port = settings.endpoint
        self.client = mqtt.Client(client_id=settings.client_id, clean_session=False, protocol=mqtt.MQTTv311)
        user, password = settings.credentials()
        if user is not None:
            self.client.username_pw_set(user, password)
        if tls:
            self.client.tls_set(
                ca_certs=settings.ca_file, cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT
            )
            self.client.tls_insecure_set(settings.insecure)
        self.client.reconnect_delay_set(settings.min_reconnect_delay, settings.max_reconnect_delay)
        self.client.on_connect = self._on_connect
        self.client.on_socket_open = set_tcp_nodelay
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.connected = threading.Event()
        self._outgoing: queue.Queue[tuple[Future[Reply], str | None] | None] = queue.Queue()
        self._sender = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)

    def start(self) -> MqttFace:
        self._sender.start()
        # connect_async + loop_start: the first connection, like every reconnection, is retried
        # by paho's loop with backoff instead of failing the module when the broker is late.
        self.client.connect_async(self.host, self.port, keepalive=self.settings.keepalive)
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self._outgoing.put(None)
        self._sender.join(timeout=30)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: Subscriber, userdata: object, flags: dict[str, int], rc: int) -> None:
        if rc != 0:
            log.error("broker refused the connection (rc=%s)", rc)
            return
        client.subscribe(self.settings.request_topic, qos=1)
        self.connected.set()

    def _on_disconnect(self, client: object, userdata: object, rc: int) -> None:
        self.connected.clear()
        if rc != 0:
            log.warning("connection lost (rc=%s); paho reconnects with backoff", rc)

    def _on_message(self, client: object, userdata: object, message: PahoMessage) -> None:
        future = self.service.submit(message.payload, "mqtt")
        self._outgoing.put((future, None))

    def _send_loop(self) -> None:
        while True:
            item = self._outgoing.get()
            if item is None:
                return
            reply = item[0].result()
            payload: MQTTReply = {"correlation_id": reply.correlation_id}
            if reply.ok:
                payload["result"] = reply.payload
                if reply.model:
                    payload["model"] = reply.model
            else:
                payload["error"] = reply.payload.get("error") if isinstance(reply.payload, dict) else reply.payload
                payload["status"] = reply.status
            info = self.client.publish(self.settings.response_topic, json.dumps(payload), qos=1)
            if info.rc != 0:
                # Not connected: paho queues QoS 1 messages and sends them after reconnecting.
                log.warning("reply queued while disconnected (rc=%s)", info.rc)
