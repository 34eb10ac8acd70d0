"""Soak: 10 real SDK modules x 100 msg/s for 60 s through the hub into $upstream: memory flat, nothing lost.

RSS is sampled every 5,000 $upstream records: the test process (it runs the simulator: hub, agent,
control API on one loop) and each module process. The baseline is taken after a warm-up of 10,000
records (about 10 s at full rate: SQLite caches, TLS sessions and the SDKs' pools are built by then).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from edgesim.testing import run_simulator
from tests.support.faults import REPO, Tally, module_command, next_address, plain_module, report, write_manifest
from tests.support.procfs import rss_kb

pytestmark = [pytest.mark.integration, pytest.mark.soak]

MODULES = 10
RATE = 100.0  # per module
SECONDS = 60
PER_MODULE = int(RATE * SECONDS)
TOTAL = MODULES * PER_MODULE
WARM_UP = 10_000  # records before the baseline RSS
SAMPLE_EVERY = 5_000
# Bounds: after warm-up nothing in the hub or a module should grow with the message count; a leak of
# even 1 KB per message would add ~50 MB over the 50,000 messages after the baseline.
HUB_GROWTH_LIMIT_KB = 50 * 1024
MODULE_GROWTH_LIMIT_KB = 20 * 1024


def test_soak_ten_modules_memory_flat_nothing_lost(tmp_path: Path) -> None:
    started = time.monotonic()
    names = [f"pump{i}" for i in range(MODULES)]
    modules = {
        name: plain_module(
            {"PUMP_PLAN": json.dumps([{"output": "up", "prefix": name, "count": PER_MODULE, "rate": RATE}])}
        )
        for name in names
    }
    manifest = write_manifest(tmp_path / "deployment.json", modules, {"all": "FROM /messages/* INTO $upstream"})
    with run_simulator(
        manifest,
        state_dir=tmp_path / "sim",
        host=next_address(),
        modules_dir=REPO / "modules",
        module_commands={name: module_command("pump.py") for name in names},
        stop_grace_secs=10,
    ) as sim:
        sim.wait_connected(timeout=90)
        pids = {name: sim.module_state(name).pid for name in names}
        assert all(pids.values())

        def sample() -> dict[str, int]:
            return {"hub": rss_kb(), **{name: rss_kb(pid) for name, pid in pids.items() if pid}}

        samples: list[tuple[int, float, dict[str, int]]] = []
        baseline: dict[str, int] = {}
        target = WARM_UP
        deadline = time.monotonic() + SECONDS + 60
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"only {sim.status()['hub']['upstream']} of {TOTAL} records in time"
            # Wait for the upstream sequence to pass the next sampling point (an event, not a sleep).
            records = sim.wait_upstream(count=1, since=target - 1, timeout=remaining)
            assert records
            count = sim.status()["hub"]["upstream"]
            samples.append((count, round(time.monotonic() - started, 1), sample()))
            if not baseline:
                baseline = samples[-1][2]
            if count >= TOTAL:
                break
            target = min(TOTAL, count + SAMPLE_EVERY)
        end = samples[-1][2]
        stats = sim.status()["hub"]
        tally = Tally({f"{name}-{i}" for name in names for i in range(PER_MODULE)})
        while tally.last_seq < stats["upstream"]:  # upstream_since pages 10,000 records at a time
            tally.poll(sim)
        numbers = tally.summary()
        states = {name: sim.module_state(name) for name in names}
        growth = {name: end[name] - baseline[name] for name in end}
        report(
            "soak",
            **numbers,
            modules=MODULES,
            rate_per_module=RATE,
            seconds_per_module=SECONDS,
            hub_rss_start_mb=round(baseline["hub"] / 1024, 1),
            hub_rss_end_mb=round(end["hub"] / 1024, 1),
            module_rss_start_mb=round(max(v for k, v in baseline.items() if k != "hub") / 1024, 1),
            module_rss_end_mb=round(max(v for k, v in end.items() if k != "hub") / 1024, 1),
            max_module_growth_kb=max(v for k, v in growth.items() if k != "hub"),
            hub_rss_series_mb=[round(s[2]["hub"] / 1024, 1) for s in samples],
            wall_seconds=round(time.monotonic() - started, 1),
        )
        assert growth["hub"] < HUB_GROWTH_LIMIT_KB, samples
        assert all(growth[name] < MODULE_GROWTH_LIMIT_KB for name in names), growth
        assert numbers["lost"] == 0
        assert numbers["delivered"] == TOTAL
        assert numbers["duplicates"] == 0  # no fault injected: exactly once
        assert numbers["unexpected"] == 0
        assert stats["received"] == TOTAL
        assert all(state.starts == 1 and state.runtime_status == "running" for state in states.values())
