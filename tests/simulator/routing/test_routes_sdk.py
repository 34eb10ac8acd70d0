"""edgeHub's route language end to end: real azure-iot-device modules (separate processes, TLS) through
the simulator's hub. Each route must deliver exactly the messages it should, no more, no fewer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.hub import HubThread, Peer

pytestmark = pytest.mark.integration

ROUTES: dict[str, Any] = {
    "quickstart": "FROM /* INTO $upstream",  # every message, the IoT Edge quickstart's route
    "hyphen": "FROM /messages/modules/a/outputs/alerts WHERE tornado-warning = 'yes' "
    'INTO BrokeredEndpoint("/modules/b/inputs/tornado")',
    "bodyPath": "FROM /messages/modules/a/outputs/readings WHERE $body.a[0].b = 'hit' "
    'INTO BrokeredEndpoint("/modules/b/inputs/body")',
    "caseless": "FROM /messages/modules/A/outputs/sites WHERE SITE = 'north' "
    'INTO BrokeredEndpoint("/modules/b/inputs/case")',
}

# (output, body, properties, the input of b it must reach or None)
MESSAGES: list[tuple[str, dict[str, Any], dict[str, str], str | None]] = [
    ("alerts", {"id": 1}, {"tornado-warning": "yes"}, "tornado"),
    ("alerts", {"id": 2}, {"tornado-warning": "no"}, None),
    ("alerts", {"id": 3}, {"tornado": "yes", "warning": "yes"}, None),
    ("readings", {"id": 4, "a": [{"b": "hit"}, {"b": "miss"}]}, {}, "body"),
    ("readings", {"id": 5, "a": [{"b": "miss"}, {"b": "hit"}]}, {}, None),
    ("readings", {"id": 6, "a": {"b": "hit"}}, {}, None),  # an object, not an array: a[0] selects nothing
    ("sites", {"id": 7}, {"site": "north"}, "case"),  # property names ignore case, as do source module names
    ("sites", {"id": 8}, {"Site": "south"}, None),
]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubThread]:
    hub = HubThread(tmp_path, ["a", "b"], ROUTES).start()
    yield hub
    hub.stop()


def test_each_route_delivers_exactly_its_messages(hub: HubThread) -> None:
    a, b = Peer(hub, "a"), Peer(hub, "b")
    try:
        a.expect("ready")
        b.expect("ready")
        for output, body, properties, _ in MESSAGES:
            a.send(output, body, True, **properties)
        # FROM /* takes every message, once each
        hub.wait_for(lambda: hub.hub.stats()["upstream"] == len(MESSAGES))
        upstream = hub.run(lambda: hub.hub.upstream_since(0))
        assert sorted(json.loads(r.body)["id"] for r in upstream) == [m[1]["id"] for m in MESSAGES]
        expected = {body["id"]: target for _, body, _, target in MESSAGES if target is not None}
        received = {}
        for _ in expected:
            event = b.expect("input")
            received[json.loads(event["body"])["id"]] = event["input"]
        assert received == expected
        hub.wait_for(lambda: hub.hub.stats()["stored"] == 0)
        b.command(op="twin")  # a round trip after the last delivery: any extra input shows up before it
        b.expect("twin")
        assert [e for e in b.backlog if e["event"] == "input"] == []
    finally:
        a.close()
        b.close()
