"""UpstreamLink and StoreLimits on a real SQLite store: order, expiry at drain time, a failed batch, persistence."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest

from edgesim.hub.counters import HubCounters
from edgesim.hub.forwarding import Forwarding
from edgesim.hub.limits import StoreFullError
from edgesim.hub.metrics import HubMetrics
from edgesim.hub.store import HubStore
from edgesim.message import Message


def message(n: int) -> Message:
    return Message(json.dumps({"n": n}).encode(), {}, {"connectionModuleId": "m", "outputName": "o"})


def opened(path: Path, counters: HubCounters, max_bytes: int | None = None) -> Forwarding:
    return Forwarding(HubStore(path), HubMetrics("hub", "device"), max_bytes, counters)


def cloud_numbers(forwarding: Forwarding) -> list[int]:
    return [json.loads(record.body)["n"] for record in forwarding.cloud.since(0)]


def test_offline_queue_drains_in_order_skipping_what_expired(tmp_path: Path) -> None:
    counters = HubCounters()
    fwd = opened(tmp_path / "hub.db", counters)
    fwd.link.set_online(False)
    for n in range(5):
        fwd.link.accept(message(n), ttl_secs=0 if n in (1, 3) else 3600)  # 1 and 3 are past their TTL at once
    fwd.link.set_online(True)
    fwd.link.accept(message(5), 3600)  # online, but behind the queue: it waits its turn
    assert cloud_numbers(fwd) == []
    fwd.link.drain_batch(time.time())
    assert cloud_numbers(fwd) == [0, 2, 4, 5]
    assert fwd.link.state() == {"link": "online", "pending": 0, "expired": 2, "delivered_after_outage": 4}
    assert (counters.upstream, counters.expired) == (4, 2)
    fwd.link.accept(message(6), 3600)  # nothing waiting: straight to the cloud
    assert cloud_numbers(fwd) == [0, 2, 4, 5, 6]


def test_a_failed_batch_is_rolled_back_whole(tmp_path: Path) -> None:
    fwd = opened(tmp_path / "hub.db", HubCounters())
    fwd.link.set_online(False)
    for n in range(3):
        fwd.link.accept(message(n), 3600)
    fwd.link.set_online(True)
    appended = fwd.link._to_cloud

    def fail_on_the_third(m: Message) -> None:
        if json.loads(m.body)["n"] == 2:
            raise sqlite3.OperationalError("database or disk is full")
        appended(m)

    fwd.link._to_cloud = fail_on_the_third
    with pytest.raises(sqlite3.OperationalError):
        fwd.link.drain_batch(time.time())
    assert cloud_numbers(fwd) == []  # neither sent nor lost: all three still wait
    assert fwd.link.state()["pending"] == 3
    fwd.link._to_cloud = appended
    fwd.link.drain_batch(time.time())
    assert cloud_numbers(fwd) == [0, 1, 2]


def test_link_state_and_queue_survive_reopening(tmp_path: Path) -> None:
    fwd = opened(tmp_path / "hub.db", HubCounters())
    fwd.link.set_online(False)
    fwd.link.accept(message(7), 3600)
    again = opened(tmp_path / "hub.db", HubCounters())
    assert again.link.state() == {"link": "offline", "pending": 1, "expired": 0, "delivered_after_outage": 0}


def test_store_limit_refuses_before_storing_and_counts(tmp_path: Path) -> None:
    counters = HubCounters()
    fwd = opened(tmp_path / "hub.db", counters, max_bytes=100)
    fwd.link.set_online(False)
    fwd.guarded(message(0), lambda: fwd.link.accept(message(0), 3600))  # about 80 bytes: under the limit
    fwd.guarded(message(1), lambda: fwd.link.accept(message(1), 3600))  # the store was under: taken
    with pytest.raises(StoreFullError, match="storeLimits"):
        fwd.guarded(message(2), lambda: fwd.link.accept(message(2), 3600))
    assert fwd.link.state()["pending"] == 2
    assert fwd.stats()["refused_store_limit"] == 1
    assert fwd.limits.recompute() == fwd.limits.size_bytes  # the estimate matched what is stored


def test_a_store_failure_inside_the_transaction_rolls_back_every_copy(tmp_path: Path) -> None:
    counters = HubCounters(routed=5)
    fwd = opened(tmp_path / "hub.db", counters)
    fwd.link.set_online(False)

    def fan_out_then_fail() -> None:
        counters.routed += 1
        fwd.link.accept(message(0), 3600)
        raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(StoreFullError) as refused:
        fwd.guarded(message(0), fan_out_then_fail)
    assert refused.value.reason == "store_error"  # a plain OperationalError carries no SQLITE_FULL code
    assert fwd.link.state()["pending"] == 0  # the first copy went with the rest
    assert counters.routed == 5


def test_a_restart_while_online_with_messages_waiting_drains_them(tmp_path: Path) -> None:
    first = opened(tmp_path / "hub.db", HubCounters())
    first.link.set_online(False)
    for n in range(3):
        first.link.accept(message(n), 3600)
    first.link.set_online(True)  # the hub stops before its drain loop ran

    async def reopen_and_run() -> list[int]:
        again = opened(tmp_path / "hub.db", HubCounters())
        loop = asyncio.create_task(again.link.run())
        try:
            await asyncio.wait_for(again.cloud.wait(0, 10), 10)
            async with asyncio.timeout(10):
                while again.link.state()["pending"]:
                    await asyncio.sleep(0.01)  # polling a condition with a deadline
            return cloud_numbers(again)
        finally:
            loop.cancel()

    assert asyncio.run(reopen_and_run()) == [0, 1, 2]
