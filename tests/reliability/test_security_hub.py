"""Security at the hub: TLS only, SAS tokens that must be refused, and no module reaching another's
streams (publish as, subscribe to, twin, methods: each tested), with raw clients and real SDK modules.

Already proven elsewhere (not repeated): wrong key / another module's key / expired token with the
SDK (tests/simulator/hub/test_hub_sdk.py::test_wrong_key_and_other_modules_key_refused), publishing
to another module's events, another device's, desired patches, random topics
(test_hub_raw.py::test_publishing_outside_its_identity_closes_only_that_connection), a desired
patch reaching only its module (test_hub_sdk.py::test_desired_patch_reaches_only_its_module), the
workload API refusing to sign for another module or generation (test_sim_workload.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from edgesim import sas
from edgesim.hub import codec
from tests.support.badinput import (
    WatchedHub,
    closed_by_server,
    connect_frame,
    read_connack,
    tls_socket,
    token,
)
from tests.support.hub import DEVICE, HUB_HOSTNAME, Peer
from tests.support.rawmqtt import RawClient

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning"),
]
ROUTES = {"aToB": 'FROM /messages/modules/a/outputs/out INTO BrokeredEndpoint("/modules/b/inputs/in")'}
TOKENS = 300  # hypothesis examples: tampered SAS tokens
FILTERS = 300  # hypothesis examples: SUBSCRIBE filters
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": list(HealthCheck),
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],
}
OWN_FILTERS = {
    f"devices/{DEVICE}/modules/a/inputs/#",
    "$iothub/twin/res/#",
    "$iothub/twin/PATCH/properties/desired/#",
    "$iothub/methods/POST/#",
}  # what IoT Hub lets module a subscribe to (hub README), nothing else


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WatchedHub]:
    hub = WatchedHub(
        tmp_path_factory.mktemp("hub"),
        ["a", "b"],
        ROUTES,
        desired={"a": {"secret": "for a only"}, "b": {"secret": "for b only"}},
    ).start()
    yield hub
    assert hub.unhandled_errors() == []
    hub.stop()


@pytest.fixture
def b_peer(hub: WatchedHub) -> Iterator[Peer]:
    peer = Peer(hub, "b")
    peer.expect("ready")
    yield peer
    peer.close()
    hub.wait_for(lambda: "b" not in hub.hub.connected_modules())


def raw(hub: WatchedHub, module: str = "a") -> RawClient:
    client = RawClient(hub, module)
    assert client.connect() == codec.ACCEPTED
    return client


# ---- TLS only ---------------------------------------------------------------------------------
def test_plain_tcp_with_valid_credentials_gets_nothing(hub: WatchedHub) -> None:
    before = hub.stats()
    with socket.create_connection((hub.host, 8883), timeout=10) as sock:
        sock.sendall(connect_frame("a", token("a", hub.keys["a"])))
        sock.settimeout(10)
        try:
            answer = sock.recv(100)
        except (ConnectionError, OSError):
            answer = b""
    assert not answer.startswith(bytes([codec.CONNACK << 4]))  # no MQTT answer at all: it is a TLS error or nothing
    assert "a" not in hub.connected()
    assert hub.stats()["auth_failures"] == before["auth_failures"]  # never even reached authentication


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls_before_1_2_is_refused(hub: WatchedHub, version: ssl.TLSVersion) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(hub.certs.ca_cert))
    context.check_hostname = False
    context.minimum_version = version
    context.maximum_version = version
    context.set_ciphers("ALL:@SECLEVEL=0")  # let this client offer the old protocol at all
    with socket.create_connection((hub.host, 8883), timeout=10) as sock, pytest.raises(ssl.SSLError) as refused:
        context.wrap_socket(sock, server_hostname=hub.host)
    assert "no protocols available" not in str(refused.value)  # this client did offer the old version


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_work(hub: WatchedHub, version: ssl.TLSVersion) -> None:
    context = ssl.create_default_context(cafile=str(hub.certs.ca_cert))
    context.check_hostname = False
    context.minimum_version = context.maximum_version = version
    with (
        socket.create_connection((hub.host, 8883), timeout=10) as plain,
        context.wrap_socket(plain, server_hostname=hub.host) as sock,
    ):
        assert sock.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
        sock.sendall(connect_frame("a", token("a", hub.keys["a"]), clean=True))
        assert read_connack(sock) == codec.ACCEPTED


# ---- SAS tokens -------------------------------------------------------------------------------
def try_connect(hub: WatchedHub, password: str | bytes, module: str = "a", **names: Any) -> int | None:
    sock = tls_socket(hub)
    try:
        sock.sendall(connect_frame(module, password, clean=True, **names))
        code = read_connack(sock)
        if code != codec.ACCEPTED:
            assert closed_by_server(sock)
        return code
    finally:
        sock.close()


def forged(uri_module: str, key: str, expiry: int, device: str = DEVICE, hub_name: str = HUB_HOSTNAME) -> str:
    return sas.build_token(sas.module_resource_uri(hub_name, device, uri_module), key, expiry)


def later() -> int:
    return int(time.time()) + 3600


CASES = {
    "forged signature (a random key)": lambda h: forged("a", sas.generate_key(), later()),
    "another module's key": lambda h: forged("a", h.keys["b"], later()),
    "token for another module": lambda h: forged("b", h.keys["b"], later()),
    "token for another module, signed with a's key": lambda h: forged("b", h.keys["a"], later()),
    "token for another device": lambda h: forged("a", h.keys["a"], later(), device="otherdevice"),
    "token for another hub": lambda h: forged("a", h.keys["a"], later(), hub_name="evil.azure-devices.net"),
    "expired a second ago": lambda h: forged("a", h.keys["a"], int(time.time()) - 1),
    "expiry now": lambda h: forged("a", h.keys["a"], int(time.time())),
    "expiry moved after signing": lambda h: forged("a", h.keys["a"], later()).replace(
        f"se={later()}", f"se={later() + 99999}"
    ),
    "signature of a different string": lambda h: (
        forged("a", h.keys["a"], later()).rsplit("&sig=", 1)[0]
        + "&sig="
        + urllib.parse.quote(sas.sign(h.keys["a"], b"something else"), safe="")
        + f"&se={later()}"
    ),
    "no signature": lambda h: (
        "SharedAccessSignature sr="
        + urllib.parse.quote(sas.module_resource_uri(HUB_HOSTNAME, DEVICE, "a"), safe="")
        + f"&se={later()}"
    ),
    "empty signature": lambda h: forged("a", h.keys["a"], later()).split("&sig=")[0] + f"&sig=&se={later()}",
    "expiry in other digits": lambda h: forged("a", h.keys["a"], later()).rsplit("&se=", 1)[0] + "&se=²³⁴",
    "key instead of a token": lambda h: h.keys["a"],
    "empty password": lambda h: "",
    "not UTF-8": lambda h: b"\xff\xfe" + forged("a", h.keys["a"], later()).encode(),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_sas_tokens_are_refused(hub: WatchedHub, case: str, caplog: pytest.LogCaptureFixture) -> None:
    before = hub.stats()["auth_failures"]
    password = CASES[case](hub)
    assert try_connect(hub, password) in (codec.REFUSED_NOT_AUTHORIZED, codec.REFUSED_BAD_CREDENTIALS)
    assert hub.stats()["auth_failures"] == before + 1
    assert "a" not in hub.connected()
    # What the hub logs about a refusal names neither the key nor the signature it was sent.
    for key in hub.keys.values():
        assert key not in caplog.text
    if isinstance(password, str) and "&sig=" in password:
        signature = urllib.parse.unquote(password.split("&sig=")[1].split("&")[0])
        assert not signature or signature not in caplog.text


@pytest.mark.parametrize(("client_module", "user_module"), [("b", "a"), ("a", "b"), ("b", "b")])
def test_valid_token_under_another_identity_is_refused(hub: WatchedHub, client_module: str, user_module: str) -> None:
    # a's own good token, but the client id or the user name claims b.
    code = try_connect(hub, token("a", hub.keys["a"]), "a", client_module=client_module, user_module=user_module)
    assert code in (codec.REFUSED_IDENTIFIER, codec.REFUSED_NOT_AUTHORIZED)
    assert not hub.connected() & {"a", "b"}


def _b64_tamper(signature: str, index: int, bit: int) -> str:
    raw = bytearray(base64.b64decode(signature))
    raw[index % len(raw)] ^= 1 << bit
    return base64.b64encode(bytes(raw)).decode()


@st.composite
def tampered_tokens(draw: st.DrawFn) -> tuple[str, str]:
    expiry = int(time.time()) + draw(st.integers(60, 10**6))
    return draw(
        st.sampled_from(
            ["signature bit", "expiry", "resource", "field order", "extra field", "suffix", "duplicate field"]
        )
    ), str(expiry)


@settings(max_examples=TOKENS, **SETTINGS)
@given(
    kind_expiry=tampered_tokens(),
    index=st.integers(0, 31),
    bit=st.integers(0, 7),
    resource=st.sampled_from(["b", "a/x", "A", "a ", "", "../a", "a%2F..", "b/../a"]),
    junk=st.text(min_size=1, max_size=6),
)
def test_tampered_tokens_are_refused(
    hub: WatchedHub, kind_expiry: tuple[str, str], index: int, bit: int, resource: str, junk: str
) -> None:
    kind, expiry_text = kind_expiry
    expiry = int(expiry_text)
    uri = sas.module_resource_uri(HUB_HOSTNAME, DEVICE, "a")
    sr = urllib.parse.quote(uri, safe="")
    signature = sas.sign(hub.keys["a"], f"{sr}\n{expiry}".encode())
    fields = {"sr": sr, "sig": urllib.parse.quote(signature, safe=""), "se": str(expiry)}
    if kind == "signature bit":
        fields["sig"] = urllib.parse.quote(_b64_tamper(signature, index, bit), safe="")
    elif kind == "expiry":
        fields["se"] = str(expiry + 1 + index)
    elif kind == "resource":
        fields["sr"] = urllib.parse.quote(sas.module_resource_uri(HUB_HOSTNAME, DEVICE, resource), safe="")
    text = "&".join(f"{k}={v}" for k, v in fields.items())
    if kind == "field order":  # the same fields with the signature moved: still valid, must be accepted
        text = "&".join(f"{k}={fields[k]}" for k in ("se", "sig", "sr"))
    elif kind == "extra field":
        text += f"&skn={urllib.parse.quote(junk, safe='')}"
    elif kind == "suffix":
        text = text.replace("&se=", f"{urllib.parse.quote(junk, safe='')}&se=")
    elif kind == "duplicate field":
        text += f"&sig={fields['sig']}"
    code = try_connect(hub, "SharedAccessSignature " + text)
    if kind in ("field order", "extra field"):
        assert code == codec.ACCEPTED  # the control: the same signature, untampered, is good
    else:
        assert code == codec.REFUSED_NOT_AUTHORIZED, (kind, text)
    hub.wait_for(lambda: "a" not in hub.hub.connected_modules())


# ---- one module cannot reach another's streams ---------------------------------------------------
filters = st.one_of(
    st.sampled_from(sorted(OWN_FILTERS)),
    st.sampled_from(
        [
            f"devices/{DEVICE}/modules/b/inputs/#",
            f"devices/{DEVICE}/modules/+/inputs/#",
            f"devices/{DEVICE}/modules/#",
            "devices/#",
            "#",
            "+/#",
            "$iothub/#",
            "$iothub/methods/#",
            "$iothub/twin/#",
            f"devices/{DEVICE}/modules/b/#",
            "$iothub/methods/POST/+",
            f"devices/{DEVICE}/modules/a/inputs/in",
            f"devices/{DEVICE}/modules/a/#",
            "$iothub/twin/PATCH/properties/reported/#",
            f"devices/{DEVICE}/modules/b/messages/events/#",
        ]
    ),
    st.text(st.sampled_from(list("ab/#+$iothubdevices")), min_size=1, max_size=30),
)


@pytest.fixture(scope="module")
def subscriber(hub: WatchedHub) -> Iterator[list[RawClient]]:
    holder = [raw(hub, "a")]
    yield holder
    holder[0].close()


@settings(max_examples=FILTERS, **SETTINGS)
@given(topic_filter=filters, qos=st.integers(0, 1))
def test_only_a_modules_own_streams_can_be_subscribed(
    hub: WatchedHub, subscriber: list[RawClient], topic_filter: str, qos: int
) -> None:
    client = subscriber[0]
    client.sock.sendall(codec.encode_subscribe(9, [(topic_filter, qos)]))
    while True:
        packet = client.packet()
        if isinstance(packet, codec.PacketId) and packet.kind == codec.SUBACK:
            break
    assert client.last_suback == ([qos] if topic_filter in OWN_FILTERS else [codec.SUBACK_FAILURE]), topic_filter


def test_twin_responses_of_one_module_never_reach_another(hub: WatchedHub, b_peer: Peer) -> None:
    a = raw(hub)
    try:
        assert a.subscribe("$iothub/twin/res/#") == [1]
        for _ in range(5):
            b_peer.command(op="twin")
            assert b_peer.expect("twin")["twin"]["desired"]["secret"] == "for b only"
        a.publish("$iothub/twin/GET/?$rid=mine", b"", packet_id=3)
        # The first twin response a sees is the answer to its own GET: none of b's five came here.
        response = next(p for p in iter(a.packet, None) if isinstance(p, codec.Publish))
        assert response.topic == "$iothub/twin/res/200/?$rid=mine"
        assert json.loads(response.payload)["desired"]["secret"] == "for a only"
        assert b"for b only" not in response.payload
    finally:
        a.close()


def test_a_reported_patch_changes_only_the_senders_twin(hub: WatchedHub, b_peer: Peer) -> None:
    b_before = hub.run(lambda: hub.hub.get_twin("b"))
    a = raw(hub)
    try:
        a.publish(
            "$iothub/twin/PATCH/properties/reported/?$rid=1",
            json.dumps({"secret": "overwritten by a", "b": {"secret": "x"}}).encode(),
            4,
        )
        response = next(p for p in iter(a.packet, None) if isinstance(p, codec.Publish))
        assert response.topic.startswith("$iothub/twin/res/204/")
    finally:
        a.close()
    assert hub.run(lambda: hub.hub.get_twin("a"))["reported"]["secret"] == "overwritten by a"
    assert hub.run(lambda: hub.hub.get_twin("b")) == b_before
    b_peer.command(op="twin")
    assert "secret" not in b_peer.expect("twin")["twin"]["reported"]


def test_method_calls_for_one_module_never_reach_another(hub: WatchedHub, b_peer: Peer) -> None:
    a = raw(hub)
    try:
        assert a.subscribe("$iothub/methods/POST/#") == [1]
        for n in range(5):
            assert hub.call(hub.hub.invoke_method("b", "ping", {"n": n}, 10)) == (200, {"echo": {"n": n}})
        pending = invoke_later(hub, "a", "mine")
        call = next(p for p in iter(a.packet, None) if isinstance(p, codec.Publish))
        assert call.topic.startswith("$iothub/methods/POST/mine/")  # the first call a sees is its own
        rid = call.topic.split("$rid=")[1]
        a.publish(f"$iothub/methods/res/200/?$rid={rid}", b'{"ok": true}', packet_id=5)
        assert pending.result(10) == (200, {"ok": True})
    finally:
        a.close()


def invoke_later(hub: WatchedHub, module: str, method: str, timeout: float = 10) -> Future[tuple[int, Any]]:
    """Start a method call on the hub's loop; the caller waits on the returned future."""
    return asyncio.run_coroutine_threadsafe(hub.hub.invoke_method(module, method, {}, timeout), hub.loop)


def test_a_module_cannot_answer_another_modules_method_call(hub: WatchedHub, b_peer: Peer) -> None:
    """The hub numbers method calls 1, 2, 3...: a guesses every id, b never answers ('slow')."""
    a = raw(hub)
    try:
        pending = invoke_later(hub, "b", "slow", timeout=3)
        assert b_peer.expect("method")["name"] == "slow"  # b has the call; a answers in its place
        for rid in range(1, 301):
            a.publish(f"$iothub/methods/res/200/?$rid={rid}", b'{"spoofed": true}', packet_id=rid)
        acks = [a.packet() for _ in range(300)]
        assert all(isinstance(p, codec.PacketId) and p.kind == codec.PUBACK for p in acks)
        status, payload = pending.result(10)
        assert status == 504, payload
        assert "spoofed" not in json.dumps(payload)
    finally:
        a.close()


@pytest.mark.parametrize(
    "topic",
    [
        f"devices/{DEVICE}/modules/b/inputs/in/",  # straight into b's input
        "$iothub/methods/POST/ping/?$rid=1",  # calling a method (only the service may)
        f"devices/{DEVICE}/modules/b/messages/events/%24.on=out",
        f"devices/{DEVICE}/modules/a/../b/messages/events/",
    ],
)
def test_publishing_into_another_modules_streams_is_refused(hub: WatchedHub, b_peer: Peer, topic: str) -> None:
    before = hub.stats()["forbidden"]
    a = raw(hub)
    a.publish(topic, b'{"x": 1}')
    assert a.closed_by_server()
    a.close()
    assert hub.stats()["forbidden"] == before + 1
    assert b_peer.idle()
    assert hub.call(hub.hub.invoke_method("b", "ping", {}, 10))[0] == 200  # b carries on


def test_a_sender_cannot_claim_another_identity_in_its_properties(hub: WatchedHub, b_peer: Peer) -> None:
    a = raw(hub)
    try:
        a.publish(
            f"devices/{DEVICE}/modules/a/messages/events/%24.on=out&%24.cmid=b&%24.cdid=otherdevice&k=v",
            b'{"claim": "from b"}',
            packet_id=6,
        )
        received = b_peer.expect("input")
    finally:
        a.close()
    assert json.loads(received["body"]) == {"claim": "from b"}
    assert received["properties"]["$.cmid"] == "a"  # the hub sets who sent it, whatever the sender wrote
    assert received["properties"]["$.cdid"] == DEVICE
    assert received["properties"]["k"] == "v"


def test_key_material_is_not_in_the_hub_state(hub: WatchedHub, b_peer: Peer) -> None:
    state: Path = hub.state_dir
    blob = b"".join(path.read_bytes() for path in state.rglob("*") if path.is_file())
    assert blob  # the store exists and was written
    for key in hub.keys.values():
        for form in (key.encode(), base64.b64decode(key), urllib.parse.quote(key, safe="").encode()):
            assert form not in blob
