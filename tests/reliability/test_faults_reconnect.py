"""The hub drops modules' connections mid-stream: the SDK reconnects, subscriptions hold, nothing is lost.

A real SDK source ("pump") streams through a route into the real sentiment module, which scores
into $upstream. The hub closes the pump's connection, then the sentiment module's, then both, while
the stream flows.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import pytest

from edgesim.hub.server import IN_FLIGHT_WINDOW
from edgesim.testing import SimulatorHarness, run_simulator
from tests.support.faults import (
    REPO,
    Tally,
    drop_connection,
    hub_connection,
    module_command,
    next_address,
    plain_module,
    report,
    sentiment_module,
    write_manifest,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

ROUTES = {
    "tweets": 'FROM /messages/modules/pump/outputs/tweets INTO BrokeredEndpoint("/modules/sentiment/inputs/input1")',
    "scored": "FROM /messages/modules/sentiment/outputs/output1 INTO $upstream",
    "errors": "FROM /messages/modules/sentiment/outputs/errors INTO $upstream",
}
COUNT = 600
RATE = 150.0  # a 4 s stream
DROPS = [(100, ("pump",)), (220, ("sentiment",)), (340, ("pump", "sentiment"))]  # after N results, drop these


def _reconnected(sim: SimulatorHarness, module: str, gone: object | None) -> bool:
    """The module has a connection again, and not the one that was dropped."""
    return hub_connection(sim, module) not in (None, gone)


def test_dropped_connections_reconnect_and_lose_nothing(tmp_path: Path, packaged_model_dir: Path) -> None:
    started = time.monotonic()
    manifest = write_manifest(
        tmp_path / "deployment.json",
        {"sentiment": sentiment_module(packaged_model_dir, tmp_path), "pump": plain_module()},
        ROUTES,
    )
    tally = Tally({f"r-{i}" for i in range(COUNT)})
    with run_simulator(
        manifest,
        state_dir=tmp_path / "sim",
        host=next_address(),
        modules_dir=REPO / "modules",
        module_commands={"pump": module_command("pump.py")},
        stop_grace_secs=10,
    ) as sim:
        sim.wait_connected(timeout=90)
        pids = {name: sim.module_state(name).pid for name in ("pump", "sentiment")}
        status, _ = sim.invoke("pump", "stream", {"output": "tweets", "prefix": "r", "count": COUNT, "rate": RATE})
        assert status == 200
        reconnect_secs: list[float] = []
        for after, modules in DROPS:
            while tally.delivered < after:
                tally.add(sim.wait_upstream(count=1, since=tally.last_seq, timeout=60))
            old = {module: hub_connection(sim, module) for module in modules}
            dropped_at = time.monotonic()
            for module in modules:
                drop_connection(sim, module)
            for module in modules:
                wait_until(
                    functools.partial(_reconnected, sim, module, old[module]), timeout=30, what=f"{module} to reconnect"
                )
            reconnect_secs.append(round(time.monotonic() - dropped_at, 2))
        assert tally.delivered < COUNT, "the drops must land mid-stream"
        tally.wait_all(sim, timeout=120)
        # Subscriptions held across the reconnects (the SDK never subscribes again):
        # inputs (all messages arrived), methods, and desired-property patches.
        assert sim.invoke("sentiment", "score", {"text": "still here"}, timeout=20)[0] == 200
        assert sim.invoke("pump", "nothing", {}, timeout=20)[0] == 404  # answered by the pump's handler
        sim.patch_desired("sentiment", {"thresholds": {"negative": 0.1, "positive": 0.9}})
        wait_until(
            lambda: (
                sim.twin("sentiment")["reported"].get("settings", {}).get("thresholds")
                == {"negative": 0.1, "positive": 0.9}
            ),
            timeout=30,
            what="the desired patch to be applied",
        )
        wait_until(
            lambda: sim.twin("pump")["reported"].get("done", {}).get("r") == COUNT,
            timeout=30,
            what="the pump to report its stream done",
        )
        tally.poll(sim)
        numbers = tally.summary()
        # The last results reach $upstream just before their inputs' PUBACKs reach the hub.
        wait_until(lambda: sim.status()["hub"]["stored"] == 0, timeout=30, what="every input to be acknowledged")
        stats = sim.status()["hub"]
        report(
            "dropped connections",
            **numbers,
            drops=sum(len(m) for _, m in DROPS),
            reconnect_secs=reconnect_secs,
            hub_received=stats["received"],
            stored=stats["stored"],
            seconds=round(time.monotonic() - started, 1),
        )
        assert numbers["lost"] == 0
        assert numbers["delivered"] == COUNT
        assert numbers["unexpected"] == 0
        # Only what was in flight at a drop comes twice: up to the hub's window per sentiment drop, and the
        # one publish the pump (sending one at a time) may repeat per pump drop.
        drops_of = {name: sum(name in modules for _, modules in DROPS) for name in ("pump", "sentiment")}
        assert numbers["duplicates"] <= drops_of["sentiment"] * IN_FLIGHT_WINDOW + drops_of["pump"]
        assert set(tally.outputs) == {"output1"}
        assert stats["stored"] == 0
        # The modules reconnected; they did not crash and restart.
        assert {name: sim.module_state(name).pid for name in pids} == pids
        assert all(sim.module_state(name).starts == 1 for name in pids)
