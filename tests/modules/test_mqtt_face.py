"""The MQTT face against a real mosquitto broker on loopback, started and stopped by the test."""

from __future__ import annotations

import json
import queue
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edgeship_sentiment.mqtt_face import MqttFace, MqttSettings
from edgeship_sentiment.service import SentimentService
from tests.support.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]
MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)  # polling a port that has no readiness signal we can wait on
    raise TimeoutError("mosquitto did not start listening")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[int]:
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (make test installs it with apt)")
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(10)


class Peer:
    """A plain paho client playing the application that sends tweets and reads replies."""

    def __init__(self, port: int, topic: str) -> None:
        self.replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self.client = mqtt.Client(client_id="peer", protocol=mqtt.MQTTv311)
        subscribed = queue.Queue[int]()
        self.client.on_message = lambda c, u, m: self.replies.put(json.loads(m.payload))
        self.client.on_subscribe = lambda c, u, mid, q: subscribed.put(mid)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(topic, qos=1)
        subscribed.get(timeout=10)

    def send(self, topic: str, payload: bytes | str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def face(service: SentimentService, broker: int) -> Iterator[MqttFace]:
    face = MqttFace(service, MqttSettings(url=f"mqtt://127.0.0.1:{broker}")).start()
    assert face.connected.wait(10)
    yield face
    face.stop()


def test_request_reply_with_correlation(face: MqttFace, broker: int) -> None:
    peer = Peer(broker, "edgeship/sentiment/out")
    try:
        peer.send("edgeship/sentiment/in", json.dumps({"text": "what a lovely day", "correlation_id": "c-1"}))
        peer.send("edgeship/sentiment/in", json.dumps({"texts": ["a", "b"], "id": 7}))
        first, second = peer.replies.get(timeout=10), peer.replies.get(timeout=10)
    finally:
        peer.close()
    assert first["correlation_id"] == "c-1"
    assert set(first["result"]) == {"label", "score", "elapsed_time"}
    assert first["model"] == second["model"] == "sentiment:1"  # the model that scored it
    assert second["correlation_id"] == "7"
    assert len(second["result"]) == 2


def test_bad_input_gets_an_error_reply(face: MqttFace, broker: int) -> None:
    peer = Peer(broker, "edgeship/sentiment/out")
    try:
        peer.send("edgeship/sentiment/in", b"\xff\x00garbage")
        peer.send("edgeship/sentiment/in", json.dumps({"text": 42, "correlation_id": "bad-2"}))
        peer.send("edgeship/sentiment/in", json.dumps({"text": "still alive", "correlation_id": "ok-3"}))
        replies = [peer.replies.get(timeout=10) for _ in range(3)]
    finally:
        peer.close()
    assert replies[0]["status"] == 400
    assert "UTF-8" in replies[0]["error"]
    assert replies[1]["status"] == 400
    assert "must be a string" in replies[1]["error"]
    assert replies[2]["correlation_id"] == "ok-3"
    assert "result" in replies[2]


def test_custom_topics_and_bad_url(service: SentimentService, broker: int) -> None:
    face = MqttFace(
        service,
        MqttSettings(
            url=f"mqtt://127.0.0.1:{broker}", request_topic="t/in", response_topic="t/out", client_id="custom"
        ),
    ).start()
    peer = Peer(broker, "t/out")
    try:
        assert face.connected.wait(10)
        peer.send("t/in", json.dumps({"text": "hi", "id": "x"}))
        assert peer.replies.get(timeout=10)["correlation_id"] == "x"
    finally:
        peer.close()
        face.stop()
    from edgeship_sentiment.errors import SentimentModuleError

    with pytest.raises(SentimentModuleError, match="mqtt://host:port"):
        MqttFace(service, MqttSettings(url="http://nope"))


def test_the_face_socket_has_tcp_nodelay(face: MqttFace) -> None:
    """paho 1.6 leaves Nagle on: a reply published after a PUBACK waited for the broker's delayed ACK."""
    import socket

    sock = face.client.socket()
    assert sock is not None
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
