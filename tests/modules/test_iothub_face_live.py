"""The sentiment module as a real IoT Edge module: its own process, the real SDK, TLS, the hub.

The module starts with the SDK's edge fallback (``EdgeHubConnectionString`` +
``EdgeModuleCACertificateFile``), exactly what ``create_from_edge_environment()`` reads when the
workload-API variables are absent. A second module (a real SDK peer) sends tweets through a route.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.hub import HubThread, Peer, json_twin, sentiment_module

pytestmark = [pytest.mark.slow, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
ROUTES = {
    "tweets": 'FROM /messages/modules/source/outputs/tweets INTO BrokeredEndpoint("/modules/sentiment/inputs/input1")',
    "scored": "FROM /messages/modules/sentiment/outputs/output1 INTO $upstream",
    "errors": "FROM /messages/modules/sentiment/outputs/errors INTO $upstream",
}


@pytest.fixture
def deployment(tmp_path: Path, packaged_model_dir: Path) -> Iterator[tuple[HubThread, subprocess.Popen[bytes]]]:
    hub = HubThread(
        tmp_path / "sim",
        ["sentiment", "source"],
        ROUTES,
        desired={"sentiment": {"thresholds": {"negative": 0.4, "positive": 0.7}, "max_batch": 16}},
    ).start()
    try:
        with sentiment_module(hub, packaged_model_dir, tmp_path) as module:
            yield hub, module
    finally:
        hub.stop()


def upstream(hub: HubThread, count: int) -> list[Any]:
    hub.wait_for(lambda: hub.hub.stats()["upstream"] >= count, timeout=60)
    return [r.to_json() for r in hub.run(lambda: hub.hub.upstream_since(0))]


def test_messages_methods_and_twin_through_the_hub(
    deployment: tuple[HubThread, subprocess.Popen[bytes]], peers: list[Peer]
) -> None:
    hub, module = deployment
    source = Peer(hub, "source")
    peers.append(source)
    source.expect("ready")
    source.command(op="send", output="tweets", body={"text": "I love this so much"}, message_id="tweet-1")
    source.command(op="send", output="tweets", body={"texts": ["awful", "great"]}, message_id="tweet-2")
    source.command(op="send", output="tweets", body={"text": 42}, message_id="tweet-bad")
    records = upstream(hub, 3)
    by_correlation = {r["system_properties"]["correlationId"]: r for r in records}
    first = by_correlation["tweet-1"]
    assert first["output"] == "output1"
    assert set(json.loads(first["body"])) == {"label", "score", "elapsed_time"}
    assert first["system_properties"]["contentType"] == "application/json"
    assert len(json.loads(by_correlation["tweet-2"]["body"])) == 2
    bad = by_correlation["tweet-bad"]
    assert bad["output"] == "errors"
    assert "must be a string" in json.loads(bad["body"])["error"]

    status, payload = hub.invoke("sentiment", "score", {"text": "Today is a great day!"}, 20)
    assert status == 200
    assert set(payload) == {"label", "score", "elapsed_time"}
    assert hub.call(hub.hub.invoke_method("sentiment", "score", {"nope": 1}, 20))[0] == 400

    reported = hub.run(lambda: json_twin(hub.hub, "sentiment"))["reported"]
    assert reported["model"]["model"] == "sentiment:1"
    assert reported["settings"]["max_batch"] == 16
    hub.call(hub.hub.patch_desired("sentiment", {"thresholds": {"negative": 0.0, "positive": 1.0}}))
    hub.wait_for(
        lambda: (
            json_twin(hub.hub, "sentiment")["reported"].get("settings", {}).get("thresholds")
            == {"negative": 0.0, "positive": 1.0}
        ),
        timeout=30,
    )
    assert hub.invoke("sentiment", "score", {"text": "anything"}, 20)[1]["label"] == "NEUTRAL"
    assert module.poll() is None


def test_the_sdk_socket_gets_tcp_nodelay_on_every_connect(tmp_path: Path) -> None:
    """paho 1.6 leaves Nagle on; a PUBACK then a PUBLISH then waited for the hub's delayed ACK."""
    import socket

    from azure.iot.device import IoTHubModuleClient

    from edgeship_sentiment.iothub_face import disable_nagle, sdk_paho_client

    hub = HubThread(tmp_path / "sim", ["probe"], {}).start()
    client = IoTHubModuleClient.create_from_connection_string(
        hub.connection_string("probe"), server_verification_cert=hub.certs.ca_cert.read_text()
    )
    try:
        paho = sdk_paho_client(client)
        assert paho is not None
        assert disable_nagle(client)
        for _ in range(2):  # a reconnect opens a new socket
            client.connect()
            assert (
                paho._sock.getsockopt(  # type: ignore[attr-defined]  # paho's socket has no public accessor
                    socket.IPPROTO_TCP, socket.TCP_NODELAY
                )
                == 1
            )
            client.disconnect()
    finally:
        client.shutdown()
        hub.stop()
