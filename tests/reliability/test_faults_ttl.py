"""The destination (the real sentiment module) is down for longer than a route's TTL.

The pump streams on two routes into the sentiment module while it is down (killed, in backoff):
one with ``timeToLiveSecs`` 2, one with the store's default. The short-lived messages expire and
are counted, never delivered; the rest are delivered when the module is back.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from edgesim.agent import BACKOFF, BackoffConfig
from edgesim.hub.server import IN_FLIGHT_WINDOW
from edgesim.message import Message
from edgesim.testing import SimulatorHarness, run_simulator
from tests.support.faults import (
    REPO,
    Tally,
    module_command,
    next_address,
    on_loop,
    plain_module,
    report,
    sentiment_module,
    write_manifest,
)
from tests.support.hub import hub_session
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

TTL = 2
DOWN_SECS = 6.0  # the first restart's cool-off: the module stays down three times the TTL
INTO_SENTIMENT = 'INTO BrokeredEndpoint("/modules/sentiment/inputs/input1")'
ROUTES = {
    "short": {"route": f"FROM /messages/modules/pump/outputs/short {INTO_SENTIMENT}", "timeToLiveSecs": TTL},
    "long": f"FROM /messages/modules/pump/outputs/long {INTO_SENTIMENT}",
    "scored": "FROM /messages/modules/sentiment/outputs/output1 INTO $upstream",
    "errors": "FROM /messages/modules/sentiment/outputs/errors INTO $upstream",
}
BEFORE, SHORT, LONG = 50, 100, 100


def stream(sim: SimulatorHarness, output: str, prefix: str, count: int) -> None:
    status, _ = sim.invoke("pump", "stream", {"output": output, "prefix": prefix, "count": count, "rate": 500})
    assert status == 200


def test_messages_older_than_the_ttl_expire_the_rest_arrive(tmp_path: Path, packaged_model_dir: Path) -> None:
    started = time.monotonic()
    manifest = write_manifest(
        tmp_path / "deployment.json",
        {"sentiment": sentiment_module(packaged_model_dir, tmp_path), "pump": plain_module()},
        ROUTES,
    )
    before = {f"before-{i}" for i in range(BEFORE)}
    short = {f"short-{i}" for i in range(SHORT)}
    long = {f"long-{i}" for i in range(LONG)}
    with run_simulator(
        manifest,
        state_dir=tmp_path / "sim",
        host=next_address(),
        modules_dir=REPO / "modules",
        module_commands={"pump": module_command("pump.py")},
        stop_grace_secs=10,
        backoff=BackoffConfig(cool_off_unit_secs=DOWN_SECS),
    ) as sim:
        sim.wait_connected(timeout=90)
        stream(sim, "long", "before", BEFORE)
        tally = Tally(before | long)
        while tally.delivered < BEFORE:
            tally.add(sim.wait_upstream(count=1, since=tally.last_seq, timeout=60))

        # Every "before" input acknowledged (its result's PUBACK may trail the $upstream record).
        wait_until(lambda: sim.status()["hub"]["stored"] == 0, timeout=30, what="the store to empty")
        pid = sim.module_state("sentiment").pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        down = sim.wait_module("sentiment", lambda s: s.runtime_status == BACKOFF, timeout=30)
        went_down = time.monotonic()
        stream(sim, "short", "short", SHORT)
        stream(sim, "long", "long", LONG)
        wait_until(
            lambda: sim.twin("pump")["reported"].get("done", {}) == {"before": BEFORE, "short": SHORT, "long": LONG},
            timeout=30,
            what="the pump to finish its streams",
        )
        wait_until(lambda: sim.status()["hub"]["expired"] >= SHORT, timeout=TTL + 10, what="the short TTL to expire")
        expired_after = round(time.monotonic() - went_down, 2)
        state_at_expiry = sim.module_state("sentiment")
        stored_at_expiry = sim.status()["hub"]["stored"]

        sim.wait_module("sentiment", lambda s: s.starts == 2 and s.runtime_status == "running", timeout=60)
        sim.wait_connected("sentiment", timeout=60)
        back_after = round(time.monotonic() - went_down, 2)
        tally.wait_all(sim, timeout=90)
        wait_until(lambda: sim.status()["hub"]["stored"] == 0, timeout=30, what="the store to empty")
        tally.poll(sim)
        stats = sim.status()["hub"]
        numbers = tally.summary()
        short_delivered = sum(count for key, count in tally.seen.items() if key in short)
        report(
            "ttl",
            sent=BEFORE + SHORT + LONG,
            **{k: v for k, v in numbers.items() if k != "sent"},
            expired=stats["expired"],
            short_delivered=short_delivered,
            stored_at_expiry=stored_at_expiry,
            expired_after_secs=expired_after,
            back_after_secs=back_after,
            down_for=down.next_restart_in,
            seconds=round(time.monotonic() - started, 1),
        )
        assert state_at_expiry.runtime_status == BACKOFF  # it expired while the destination was down
        assert stored_at_expiry == LONG  # the long-lived ones waited in the store
        assert stats["expired"] == SHORT
        assert short_delivered == 0
        assert numbers["lost"] == 0
        assert numbers["delivered"] == BEFORE + LONG
        assert numbers["unexpected"] == 0
        assert stats["stored"] == 0
        assert set(tally.outputs) == {"output1"}


def test_a_window_of_expired_messages_does_not_hold_back_the_rest(tmp_path: Path) -> None:
    """Messages that expired while queued behind a busy window (not yet swept) must not stall the queue.

    When the window frees up, the hub reads the next window's worth of the module's queue; if all of
    it has expired, it must go on reading, not wait for a wake-up that may never come.
    """
    started = time.monotonic()
    journal_path = tmp_path / "sink.jsonl"
    manifest = write_manifest(
        tmp_path / "deployment.json", {"sink": plain_module({"SINK_JOURNAL": journal_path, "SINK_INPUTS": "x"})}, {}
    )
    expired = 2 * IN_FLIGHT_WINDOW + 10
    with run_simulator(
        manifest,
        state_dir=tmp_path / "sim",
        host=next_address(),
        modules_dir=REPO / "modules",
        module_commands={"sink": module_command("sink.py")},
        stop_grace_secs=10,
    ) as sim:
        sim.wait_connected(timeout=60)
        hub = sim.simulator.hub
        wait_until(
            lambda: on_loop(sim, lambda: "inputs" in hub_session(hub, "sink").subscriptions),
            timeout=30,
            what="the sink to subscribe to its inputs",
        )

        def enqueue() -> None:  # one step of the hub's loop: the sweep cannot run in between
            for n in range(expired):  # what a short-TTL route left behind while the window was full
                hub._deliver("sink", "x", Message(b"{}", {}, {"messageId": f"old-{n}"}), -1.0)
            hub._deliver("sink", "x", Message(b"{}", {}, {"messageId": "fresh"}), 3600.0)

        on_loop(sim, enqueue)
        wait_until(
            lambda: journal_path.exists() and "fresh" in journal_path.read_text(),
            timeout=10,
            what="the fresh message behind the expired ones",
        )
        wait_until(lambda: sim.status()["hub"]["stored"] == 0, timeout=10, what="the store to empty")
        stats = sim.status()["hub"]
        ids = [json.loads(line)["id"] for line in journal_path.read_text().splitlines()]
        report(
            "ttl window",
            expired_queued=expired,
            expired=stats["expired"],
            delivered=len(ids),
            seconds=round(time.monotonic() - started, 1),
        )
        assert ids == ["fresh"]
        assert stats["expired"] == expired
