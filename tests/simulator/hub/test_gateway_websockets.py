"""MQTT over WebSockets on 443 (``websockets=True``): the same sessions, routes, twins and methods as 8883."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.hub import HubThread, Peer, listens_for_methods, module_peer

pytestmark = pytest.mark.integration

ROUTES = {
    "wsToMqtt": 'FROM /messages/modules/wsmod/outputs/out INTO BrokeredEndpoint("/modules/mqttmod/inputs/fromWs")',
    "mqttToWs": 'FROM /messages/modules/mqttmod/outputs/out INTO BrokeredEndpoint("/modules/wsmod/inputs/fromMqtt")',
}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubThread]:
    thread = HubThread(
        tmp_path, ["wsmod", "mqttmod"], ROUTES, desired={"wsmod": {"mode": "ws"}}, gateway_port=443
    ).start()
    yield thread
    thread.stop()


def test_a_websocket_module_exchanges_messages_with_an_mqtt_module(hub: HubThread, peers: list[Peer]) -> None:
    ws, mqtt = module_peer(hub, "wsmod", "websockets"), module_peer(hub, "mqttmod")
    peers.extend([ws, mqtt])
    ws.expect("ready")
    mqtt.expect("ready")
    ws.send("out", {"n": 1}, k="v")
    got = mqtt.expect("message")
    # the SDK hands edgeHub's $.cdid / $.cmid to the handler as properties: the sender, as authenticated
    assert (got["input"], json.loads(got["body"]), got["properties"]) == (
        "fromWs",
        {"n": 1},
        {"k": "v", "$.cdid": hub.config.device_id, "$.cmid": "wsmod"},
    )
    mqtt.send("out", {"n": 2})
    back = ws.expect("message")
    assert (back["input"], json.loads(back["body"])) == ("fromMqtt", {"n": 2})
    # twins and methods travel over the WebSocket too
    ws.command(op="twin")
    assert ws.expect("twin")["twin"]["desired"]["mode"] == "ws"
    ws.command(op="report", patch={"over": "websockets"})
    ws.expect("reported")
    assert hub.run(lambda: hub.hub.get_twin("wsmod"))["reported"]["over"] == "websockets"
    hub.wait_for(lambda: listens_for_methods(hub.hub, "wsmod"))
    assert hub.call(hub.hub.invoke_method("wsmod", "ping", {"a": 1}, 10)) == (200, {"echo": {"a": 1}})
    assert hub.run(lambda: hub.hub.stats())["delivered"] == 2


def test_the_websocket_endpoint_needs_the_mqtt_subprotocol_and_a_valid_identity(hub: HubThread) -> None:
    import aiohttp

    async def handshake(protocols: tuple[str, ...]) -> str:
        context = ssl.create_default_context(cafile=str(hub.certs.ca_cert))
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"wss://{hub.host}:443/$iothub/websocket", protocols=protocols, ssl=context) as socket,
        ):
            if socket.protocol != "mqtt":
                message = await socket.receive(timeout=10)
                return f"closed {message.type.name}"
            # CONNECT for a module with a wrong password: CONNACK 5 (not authorized)
            username = f"{hub.config.hub_hostname}/{hub.config.device_id}/wsmod/?api-version=2019-10-01"
            await socket.send_bytes(_connect(f"{hub.config.device_id}/wsmod", username, b"SharedAccessSignature x"))
            reply = await socket.receive(timeout=10)
            return f"connack {reply.data.hex()}"

    assert hub.call(handshake(())).startswith("closed")
    assert hub.call(handshake(("mqtt",))) == "connack 20020005"
    assert hub.run(lambda: hub.hub.stats())["auth_failures"] == 1


def _connect(client_id: str, username: str, password: bytes) -> bytes:
    def text(value: bytes) -> bytes:
        return len(value).to_bytes(2, "big") + value

    variable = text(b"MQTT") + bytes([4, 0b11000010]) + (60).to_bytes(2, "big")
    payload = text(client_id.encode()) + text(username.encode()) + text(password)
    body = variable + payload
    return bytes([0x10, len(body)]) + body
