"""Bad input to the sentiment module as a real IoT Edge module (its own process, the real SDK, TLS, the hub).

A raw MQTT client, as module ``source``, sends bad bodies (random bytes, deep JSON, strings up to
the hub's 256 KB limit, wrong types) through a route into the module, each followed by a good
tweet; every message must come back exactly once on ``$upstream`` (from ``errors`` for the bad
ones, from ``output1`` for the good ones), and the module process must still be running.
The in-process counterpart with hypothesis is test_badinput_module_handler.py.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgesim.hub import codec
from tests.support.badinput import WatchedHub, is_valid_request
from tests.support.hub import DEVICE, sentiment_module
from tests.support.rawmqtt import RawClient

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(300)]
BAD = 120  # bad bodies sent through the hub, each followed by a good one
ROUTES = {
    "tweets": 'FROM /messages/modules/source/outputs/tweets INTO BrokeredEndpoint("/modules/sentiment/inputs/input1")',
    "scored": "FROM /messages/modules/sentiment/outputs/output1 INTO $upstream",
    "errors": "FROM /messages/modules/sentiment/outputs/errors INTO $upstream",
}


def bad_bodies(count: int) -> list[bytes]:
    rng = random.Random(9)
    makers = [
        lambda: rng.randbytes(rng.randrange(1, 400)),
        lambda: (lambda n: b"[" * n + b"]" * n)(rng.randrange(2, 100_000)),  # all within the hub's 256 KB
        lambda: (lambda n: b'{"text":' + b'{"a":' * n + b"1" + b"}" * n + b"}")(rng.randrange(2, 40_000)),
        lambda: json.dumps({"text": rng.choice([None, 1, 2.5, True, [], {}, ["x"]])}).encode(),
        lambda: json.dumps({"texts": rng.choice([None, "x", 3, {"a": "b"}, ["ok", 1], [None]])}).encode(),
        lambda: json.dumps(rng.choice([[], "text", 7, None, {"message": "hi"}])).encode(),
        lambda: b'{"text": "' + b"\xff" * rng.randrange(1, 5) + b'"}',
        lambda: json.dumps({"texts": ["a"] * (4096 + rng.randrange(1, 100))}).encode(),
        lambda: b'{"text": "' + b"z" * (250 * 1024) + b'", "extra": ' + b"[" * 1000 + b"]",  # huge and broken
    ]
    return [makers[index % len(makers)]() for index in range(count)]


@pytest.fixture
def deployment(tmp_path: Path, packaged_model_dir: Path) -> Iterator[tuple[WatchedHub, subprocess.Popen[bytes]]]:
    hub = WatchedHub(
        tmp_path / "sim", ["sentiment", "source"], ROUTES, desired={"sentiment": {"max_batch": 16}}
    ).start()
    try:
        with sentiment_module(hub, packaged_model_dir, tmp_path) as module:
            yield hub, module
    finally:
        hub.stop()


def test_the_live_module_answers_every_bad_message_once_and_keeps_scoring(
    deployment: tuple[WatchedHub, subprocess.Popen[bytes]],
) -> None:
    hub, module = deployment
    source = RawClient(hub, "source")
    assert source.connect() == codec.ACCEPTED
    bodies = bad_bodies(BAD)
    expected: dict[str, str] = {}
    packet_id = 0
    for index, body in enumerate(bodies):
        for kind, payload in (("bad", body), ("good", json.dumps({"text": f"tweet number {index}"}).encode())):
            packet_id += 1
            correlation = f"{kind}-{index}"
            expected[correlation] = "output1" if kind == "good" or is_valid_request(payload) else "errors"
            source.publish(
                f"devices/{DEVICE}/modules/source/messages/events/%24.on=tweets&%24.mid={correlation}"
                "&%24.ct=application%2Fjson&%24.ce=utf-8",
                payload,
                packet_id=packet_id,
            )
            ack = source.packet(timeout=30)
            assert isinstance(ack, codec.PacketId)
            assert ack.packet_id == packet_id
    source.close()
    assert sum(kind == "errors" for kind in expected.values()) >= BAD - 5  # nearly all of them really are bad
    hub.wait_for(lambda: hub.hub.stats()["upstream"] >= len(expected), timeout=120)
    records = hub.run(lambda: hub.hub.upstream_since(0))
    seen: dict[str, str] = {}
    for record in records:
        correlation = record.system_properties["correlationId"]
        assert correlation not in seen, f"{correlation} answered twice"
        seen[correlation] = record.output
        body = json.loads(record.body)
        if record.output == "errors":
            assert isinstance(body["error"], str)
            assert record.properties["status"] == "400"
        else:
            results = body if isinstance(body, list) else [body]
            assert all(r["label"] in {"NEGATIVE", "NEUTRAL", "POSITIVE"} for r in results)
    assert seen == expected
    assert module.poll() is None  # still running
    status, payload = hub.invoke("sentiment", "score", {"text": "still here"}, 30)
    assert status == 200
    assert payload["label"] in {"NEGATIVE", "NEUTRAL", "POSITIVE"}
    assert hub.unhandled_errors() == []
