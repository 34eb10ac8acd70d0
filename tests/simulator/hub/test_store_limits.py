"""The store fills up: storeLimits.maxSizeBytes and a full disk, with real SDK modules over TLS.

edgeHub refuses a message it cannot store (``StorageFullException``; its MQTT head then closes the
sender's connection without a PUBACK); the SDK reconnects and publishes it again, so a refused
message is delayed, never lost. Both tests check that, the counters, and that the hub keeps serving.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgesim.deployment import DeploymentError, parse_deployment
from edgesim.hub import Hub
from edgesim.hub.limits import StoreFullError
from edgesim.message import Message
from tests.support.hub import RETRY_PEER, HubThread, Peer

pytestmark = pytest.mark.integration


ROUTES = {"aToB": 'FROM /messages/modules/a/outputs/out INTO BrokeredEndpoint("/modules/b/inputs/in")'}
PAD = "x" * 1000  # about 1 KB a message


class RetryPeer(Peer):
    """``retrypeer.py``: reconnects after 1 s and sends each message on its own thread."""

    def __init__(self, hub: HubThread, module: str) -> None:
        self.module = module
        self.events = queue.Queue()
        self.backlog = []
        self.process = subprocess.Popen(
            [sys.executable, str(RETRY_PEER), hub.connection_string(module), str(hub.certs.ca_cert)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()


def limited_hub(tmp_path: Path, max_bytes: int | None) -> HubThread:
    hub = HubThread(tmp_path, ["a", "b", "c"], ROUTES)
    hub.config = dataclasses.replace(hub.config, store_max_bytes=max_bytes)
    hub.hub = Hub(hub.config)
    return hub.start()


def ready(peers: list[Peer], peer: Peer) -> Peer:
    peers.append(peer)
    peer.expect("ready")
    return peer


def delivered_once(hub: HubThread, receiver: Peer) -> list[int]:
    """Every message the hub stored, as the receiver got it, once the store is empty."""
    hub.wait_for(
        lambda: hub.hub.stats()["stored"] == 0 and hub.hub.stats()["delivered"] == hub.hub.stats()["routed"], timeout=60
    )
    routed = hub.run(hub.hub.stats)["routed"]
    return [json.loads(receiver.expect("input", 30)["body"])["n"] for _ in range(routed)]


def check_nothing_lost(hub: HubThread, sender: Peer, receiver: Peer, numbers: range) -> set[int]:
    """The sender is stopped; then: each message the hub took is delivered exactly once, and each
    one the SDK reported as sent (a PUBACK) is among them. A refused message got no PUBACK: its
    sender still holds it (the SDK resends it after reconnecting, or reports the failure)."""
    sender.kill()
    sender.expect("eof")
    sent = {item["body"]["n"] for item in sender.backlog if item["event"] == "sent"}
    received = delivered_once(hub, receiver)
    assert len(received) == len(set(received)), "a message was delivered twice"
    assert sent <= set(received) <= set(numbers)
    assert receiver.idle()
    return set(received)


def room_again(hub: HubThread, peers: list[Peer], receiver: Peer, numbers: range) -> None:
    """After room returns, a sender's new messages are taken and delivered."""
    sender = ready(peers, RetryPeer(hub, "a"))
    for n in numbers:
        sender.send("out", {"n": n, "pad": PAD})
    assert sorted(json.loads(receiver.expect("input")["body"])["n"] for _ in numbers) == list(numbers)


def test_store_limit_under_load_refuses_counts_and_the_hub_still_serves(tmp_path: Path, peers: list[Peer]) -> None:
    limit = 20_000
    hub = limited_hub(tmp_path, limit)
    try:
        a = ready(peers, RetryPeer(hub, "a"))
        for n in range(40):
            a.send("out", {"n": n, "pad": PAD}, wait=False)
        hub.wait_for(lambda: hub.hub.stats()["refused_store_limit"] >= 1, timeout=30)
        stats = hub.run(hub.hub.stats)
        assert stats["stored"] < 40
        # The limit holds to within one message (edgeHub's periodic check lets more through).
        assert hub.run(lambda: hub.hub.forwarding.limits.recompute()) < limit + 1200
        # The hub still serves: another module connects and reads its twin; the control side is
        # told the store is full.
        c = ready(peers, RetryPeer(hub, "c"))
        c.command(op="twin")
        assert "desired" in c.expect("twin")["twin"]
        with pytest.raises(StoreFullError, match=r"storeLimits\.maxSizeBytes"):
            hub.call(hub.hub.send_to_input("b", "in", Message(b"{}", {}, {})))
        # Deliveries make room: what the hub took arrives once, nothing it acknowledged is missing.
        b = ready(peers, RetryPeer(hub, "b"))
        assert len(check_nothing_lost(hub, a, b, range(40))) >= stats["stored"]
        room_again(hub, peers, b, range(100, 105))
        assert hub.run(hub.hub.stats)["refused_store_limit"] >= 1
    finally:
        for peer in peers:
            peer.close()
        hub.stop()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs where the hub keeps its store; skipped where mounting is not permitted."""
    mount = tmp_path / "hub"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_refuses_without_crash_or_corruption_and_loses_nothing(
    tmp_path: Path, tiny_disk: Path, peers: list[Peer]
) -> None:
    hub = limited_hub(tmp_path, None)
    try:
        a = ready(peers, RetryPeer(hub, "a"))
        for n in range(5):
            a.send("out", {"n": n, "pad": PAD})
        filler = tiny_disk / "filler"
        free = os.statvfs(tiny_disk)
        filler.write_bytes(b"\0" * max(0, free.f_bavail * free.f_frsize - 64 * 1024))
        for n in range(5, 45):
            a.send("out", {"n": n, "pad": PAD}, wait=False)
        hub.wait_for(lambda: hub.hub.stats()["refused_disk_full"] >= 1, timeout=30)
        # Still serving: a new connection, a twin read; the store is intact.
        c = ready(peers, RetryPeer(hub, "c"))
        c.command(op="twin")
        assert "desired" in c.expect("twin")["twin"]
        assert hub.run(lambda: hub.hub.store.db.execute("PRAGMA integrity_check").fetchone()) == ("ok",)
        # Space returns: what was stored (the first five included) is delivered once; nothing the
        # hub acknowledged is missing; new messages are taken again.
        filler.unlink()
        b = ready(peers, RetryPeer(hub, "b"))
        assert set(range(5)) <= check_nothing_lost(hub, a, b, range(45))
        room_again(hub, peers, b, range(100, 105))
        assert hub.run(lambda: hub.hub.store.db.execute("PRAGMA integrity_check").fetchone()) == ("ok",)
    finally:
        for peer in peers:
            peer.close()
        peers.clear()
        hub.stop()


def _manifest(store: object) -> dict[str, object]:
    agent = {
        "schemaVersion": "1.1",
        "runtime": {"type": "docker", "settings": {}},
        "systemModules": {
            "edgeAgent": {"type": "docker", "settings": {"image": "agent"}},
            "edgeHub": {"type": "docker", "settings": {"image": "hub"}},
        },
    }
    return {
        "modulesContent": {
            "$edgeAgent": {"properties.desired": agent},
            "$edgeHub": {
                "properties.desired": {"schemaVersion": "1.1", "routes": {}, "storeAndForwardConfiguration": store}
            },
        }
    }


def test_store_limits_are_read_from_the_manifest() -> None:
    limited = parse_deployment(_manifest({"timeToLiveSecs": 60, "storeLimits": {"maxSizeBytes": 1_000_000}}))
    assert (limited.store_ttl_secs, limited.store_max_bytes) == (60, 1_000_000)
    assert parse_deployment(_manifest({"timeToLiveSecs": 60})).store_max_bytes is None
    with pytest.raises(DeploymentError, match=r"storeLimits\.maxSizeBytes: expected a non-negative integer"):
        parse_deployment(_manifest({"storeLimits": {"maxSizeBytes": "1 MB"}}))
