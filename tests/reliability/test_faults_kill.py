"""kill -9 the real sentiment module while 1,000 messages stream into it: restarted, nothing lost."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from edgesim.agent import BackoffConfig
from edgesim.hub.server import IN_FLIGHT_WINDOW
from edgesim.testing import run_simulator
from tests.support.faults import (
    REPO,
    Tally,
    in_flight,
    next_address,
    report,
    sentiment_module,
    write_manifest,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

ROUTES = {
    "scored": "FROM /messages/modules/sentiment/outputs/output1 INTO $upstream",
    "errors": "FROM /messages/modules/sentiment/outputs/errors INTO $upstream",
}
COUNT = 1000
RATE = 400.0  # messages per second into the module's input: a 2.5 s stream
TEXTS = 8  # tweets per message: enough scoring work that the module has a backlog when it is killed
KILL_AFTER = 100  # $upstream results seen before the kill
KILL_BACKLOG = 20  # and at least this many messages sent but not yet scored (in the store or the module),
KILL_BY = COUNT * 3 // 5  # or, should the module keep up, once this many are sent: always mid-stream


def test_kill_9_mid_stream_loses_nothing(tmp_path: Path, packaged_model_dir: Path) -> None:
    started = time.monotonic()
    manifest = write_manifest(
        tmp_path / "deployment.json", {"sentiment": sentiment_module(packaged_model_dir, tmp_path, "always")}, ROUTES
    )
    ids = [f"kill-{i}" for i in range(COUNT)]
    tally = Tally(set(ids))
    with run_simulator(
        manifest,
        state_dir=tmp_path / "sim",
        host=next_address(),
        modules_dir=REPO / "modules",
        backoff=BackoffConfig(cool_off_unit_secs=0.5),
        stop_grace_secs=10,
    ) as sim:
        sim.wait_connected("sentiment", timeout=90)
        first_pid = sim.module_state("sentiment").pid
        assert first_pid is not None
        sent = [0]
        failure: list[BaseException] = []

        def stream() -> None:
            begin = time.monotonic()
            try:
                for index, message_id in enumerate(ids):
                    delay = begin + index / RATE - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)  # pacing the stream, not synchronisation
                    sim.send(
                        "sentiment",
                        "input1",
                        {"texts": [f"tweet {index}.{n}, what a day" for n in range(TEXTS)]},
                        message_id=message_id,
                    )
                    sent[0] = index + 1
            except BaseException as exc:  # noqa: BLE001 - reported by the test thread
                failure.append(exc)

        sender = threading.Thread(target=stream, name="stream", daemon=True)
        sender.start()
        deadline = time.monotonic() + 60
        while tally.delivered < KILL_AFTER or (sent[0] - tally.delivered < KILL_BACKLOG and sent[0] < KILL_BY):
            assert time.monotonic() < deadline, f"{tally.delivered} results, {sent[0]} sent: no kill point in 60 s"
            with contextlib.suppress(TimeoutError):  # re-check the sent count at least every 0.2 s
                tally.add(sim.wait_upstream(count=1, since=tally.last_seq, timeout=0.2))
        held_at_kill = in_flight(sim, "sentiment")
        os.kill(first_pid, signal.SIGKILL)
        sent_at_kill, delivered_at_kill = sent[0], tally.delivered
        state = sim.wait_module("sentiment", lambda s: s.starts == 2 and s.runtime_status == "running", timeout=60)
        sender.join(60)
        assert not failure, failure
        assert sent[0] == COUNT
        tally.wait_all(sim, timeout=120)
        tally.poll(sim)
        # The last results reach $upstream just before their inputs' PUBACKs reach the hub.
        wait_until(lambda: sim.status()["hub"]["stored"] == 0, timeout=30, what="every input to be acknowledged")
        stats = sim.status()["hub"]
        numbers = tally.summary()
        report(
            "kill -9",
            **numbers,
            sent_at_kill=sent_at_kill,
            delivered_at_kill=delivered_at_kill,
            held_in_module_at_kill=held_at_kill,
            restarts=state.restart_count,
            exit_code=state.exit_code,
            hub_delivered=stats["delivered"],
            stored=stats["stored"],
            seconds=round(time.monotonic() - started, 1),
        )
        assert sent_at_kill < COUNT, "the kill must land mid-stream"
        assert (state.restart_count, state.exit_code, state.pid != first_pid) == (1, -9, True)
        assert numbers["lost"] == 0
        assert numbers["delivered"] == COUNT
        assert numbers["unexpected"] == 0
        assert numbers["duplicates"] <= IN_FLIGHT_WINDOW  # only what was in flight at the kill comes twice
        assert set(tally.outputs) == {"output1"}
        assert stats["stored"] == 0
