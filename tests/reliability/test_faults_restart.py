"""Stop and restart the whole simulator mid-stream: store-and-forward delivers everything, in order per route.

The pump streams on two routes (``a`` and ``b``) into the sink. Mid-stream the sink goes away (it
disconnects, as a destination that is down), the store fills, and the simulator is stopped while
the pump is still sending. The simulator then starts again on the same state directory: the pump
resumes where its last acknowledged send left off, and the sink must receive every message of
each route, in the order the pump sent them (the sink journals each input in arrival order).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from edgesim.testing import run_simulator
from tests.support.faults import REPO, module_command, next_address, plain_module, report, write_manifest
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

COUNT = 400  # per route
RATE = 100.0  # per route: a 4 s stream when nothing stops it
DISCONNECT_AFTER = 150  # journal lines before the sink goes away in the first run
ROUTES = {
    "routeA": 'FROM /messages/modules/pump/outputs/a INTO BrokeredEndpoint("/modules/sink/inputs/a")',
    "routeB": 'FROM /messages/modules/pump/outputs/b INTO BrokeredEndpoint("/modules/sink/inputs/b")',
}


def journal(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def first_occurrences(ids: list[str]) -> list[str]:
    seen: set[str] = set()
    return [i for i in ids if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]


def test_simulator_restart_mid_stream_delivers_everything_in_order(tmp_path: Path) -> None:
    started = time.monotonic()
    journal_path, progress_path = tmp_path / "sink.jsonl", tmp_path / "pump-progress.json"
    plan = [{"output": route, "prefix": route, "count": COUNT, "rate": RATE} for route in ("a", "b")]
    manifest = write_manifest(
        tmp_path / "deployment.json",
        {
            "sink": plain_module(
                {"SINK_JOURNAL": journal_path, "SINK_INPUTS": "a,b", "SINK_DISCONNECT_AFTER": DISCONNECT_AFTER}
            )
            | {"startupOrder": 0},
            "pump": plain_module({"PUMP_PLAN": json.dumps(plan), "PUMP_PROGRESS": progress_path}) | {"startupOrder": 1},
        },
        ROUTES,
    )
    options: dict[str, Any] = {
        "state_dir": tmp_path / "sim",
        "host": next_address(),
        "modules_dir": REPO / "modules",
        "stop_grace_secs": 10,
        "module_commands": {"pump": module_command("pump.py"), "sink": module_command("sink.py")},
    }

    with run_simulator(manifest, **options) as sim:
        sim.wait_connected(timeout=60)
        wait_until(lambda: len(journal(journal_path)) >= DISCONNECT_AFTER, timeout=60, what="the sink's first messages")
        wait_until(lambda: "sink" not in sim.simulator.hub.connected_modules(), timeout=30, what="the sink to go away")
        wait_until(lambda: sim.status()["hub"]["stored"] >= 100, timeout=30, what="messages to wait in the store")
        first_pids = {name: sim.module_state(name).pid for name in ("pump", "sink")}
    # Stopped mid-stream: what the hub accepted but the sink never took is on disk.
    with sqlite3.connect(tmp_path / "sim" / "hub" / "hub.db") as db:
        stored_across = {row[0]: row[1] for row in db.execute("SELECT input, COUNT(*) FROM pending GROUP BY input")}
    progress_at_stop = json.loads(progress_path.read_text())
    journaled_first_run = len(journal(journal_path))
    assert all(progress_at_stop[route] < COUNT for route in ("a", "b")), progress_at_stop  # mid-stream

    with run_simulator(manifest, **options) as sim:

        def complete() -> bool:
            lines = journal(journal_path)
            return all(
                {f"{r}-{i}" for i in range(COUNT)} <= {x["id"] for x in lines if x["input"] == r} for r in ("a", "b")
            )

        wait_until(complete, timeout=90, what="every message of both routes at the sink")
        wait_until(
            lambda: sim.twin("pump")["reported"].get("done") == {"a": COUNT, "b": COUNT},
            timeout=30,
            what="the pump to report both streams done",
        )
        # The sink journals a message just after its PUBACK left; the hub may not have read it yet.
        wait_until(lambda: sim.status()["hub"]["stored"] == 0, timeout=30, what="every input to be acknowledged")
        stats = sim.status()["hub"]
        second_pids = {name: sim.module_state(name).pid for name in ("pump", "sink")}

    lines = journal(journal_path)
    per_route = {route: [x["id"] for x in lines if x["input"] == route] for route in ("a", "b")}
    duplicates = {route: len(ids) - len(set(ids)) for route, ids in per_route.items()}
    in_order = {
        route: first_occurrences(ids) == [f"{route}-{i}" for i in range(COUNT)] for route, ids in per_route.items()
    }
    after_restart = {route: sum(1 for x in lines[journaled_first_run:] if x["input"] == route) for route in ("a", "b")}
    report(
        "simulator restart",
        sent=2 * COUNT,
        delivered={r: len(set(ids)) for r, ids in per_route.items()},
        duplicates=duplicates,
        lost={r: COUNT - len(set(ids)) for r, ids in per_route.items()},
        stored_across_restart=stored_across,
        pump_progress_at_stop=progress_at_stop,
        journaled_before_stop=journaled_first_run,
        journaled_after_restart=after_restart,
        in_order=in_order,
        seconds=round(time.monotonic() - started, 1),
    )
    assert sum(stored_across.values()) >= 100
    assert set(stored_across) == {"a", "b"}
    assert in_order == {"a": True, "b": True}
    assert {r: len(set(ids)) for r, ids in per_route.items()} == {"a": COUNT, "b": COUNT}
    assert set(per_route["a"]) | set(per_route["b"]) == {f"{r}-{i}" for r in ("a", "b") for i in range(COUNT)}
    assert stats["stored"] == 0
    assert all(after_restart[route] >= stored_across[route] for route in ("a", "b"))
    assert all(first_pids[name] != second_pids[name] for name in first_pids)  # new processes after the restart
