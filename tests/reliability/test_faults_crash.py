"""The real sentiment module crashing at start (no model): edgeAgent's backoff, shown in status, no busy loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgesim.agent import BACKOFF, FAILED, RUNNING, BackoffConfig, ModuleState
from edgesim.testing import run_simulator
from tests.support.faults import REPO, next_address, report, sentiment_module, write_manifest

pytestmark = pytest.mark.integration

UNIT = 0.5  # edgeAgent's CoolOffTimeUnitInSeconds, scaled down from 10 s
BACKOFF_CONFIG = BackoffConfig(cool_off_unit_secs=UNIT, max_restarts=3)
EXPECTED_DELAYS = [UNIT, 2 * UNIT, 4 * UNIT]  # min(unit * 2^n, 300) before restart n


def _started(times: int) -> Callable[[ModuleState], bool]:
    """The module has been started ``times`` times."""
    return lambda state: state.starts == times


def _backing_off_after(times: int) -> Callable[[ModuleState], bool]:
    """The module waits in back-off after its ``times``-th start."""
    return lambda state: state.runtime_status == BACKOFF and state.starts == times


def test_crash_at_start_backs_off_then_fails(tmp_path: Path) -> None:
    started = time.monotonic()
    module = sentiment_module(tmp_path / "no-such-model", tmp_path, restart_policy="on-failure")
    manifest = write_manifest(tmp_path / "deployment.json", {"sentiment": module}, {})
    with run_simulator(
        manifest,
        state_dir=tmp_path / "sim",
        host=next_address(),
        modules_dir=REPO / "modules",
        backoff=BACKOFF_CONFIG,
        stop_grace_secs=5,
    ) as sim:
        backoffs: list[ModuleState] = []
        runs: list[ModuleState] = []
        cpu_in_backoff: list[float] = []
        for attempt in range(len(EXPECTED_DELAYS)):
            runs.append(sim.wait_module("sentiment", _started(attempt + 1), timeout=60))
            state = sim.wait_module("sentiment", _backing_off_after(attempt + 1), timeout=60)
            cpu_before, wall_before = time.process_time(), time.monotonic()
            status: Any = sim.status()["modules"]["sentiment"]  # what `edgeship sim status` shows
            assert (status["runtimeStatus"], status["restartCount"], status["nextRestartInSecs"]) == (
                BACKOFF,
                attempt,
                EXPECTED_DELAYS[attempt],
            )
            assert status["exitCode"] == 1
            assert f"restarting in {EXPECTED_DELAYS[attempt]:g} s" in status["statusDescription"]
            reported = sim.twin("$edgeAgent")["reported"]["modules"]["sentiment"]
            assert (reported["runtimeStatus"], reported["restartCount"]) == (BACKOFF, attempt)
            backoffs.append(state)
            nxt = sim.wait_module("sentiment", _started(attempt + 2), timeout=60)
            # In-process agent and hub: a busy loop while waiting would burn the whole backoff in CPU.
            cpu_in_backoff.append(round((time.process_time() - cpu_before) / (time.monotonic() - wall_before), 3))
            assert nxt.runtime_status in (RUNNING, BACKOFF, FAILED)
        final = sim.wait_module("sentiment", lambda s: s.runtime_status == FAILED, timeout=60)
        runs.append(final)
        # Failed stays failed: no further start within several times the last cool-off.
        with pytest.raises(TimeoutError):
            sim.wait_module("sentiment", lambda s: s.starts > len(EXPECTED_DELAYS) + 1, timeout=4 * UNIT * 2)
        reported = sim.twin("$edgeAgent")["reported"]["modules"]["sentiment"]
        logs = sim.logs("sentiment")
        gaps = [
            round(after.last_start - state.last_exit, 3)
            for state, after in zip(backoffs, runs[1:], strict=True)
            if after.last_start is not None and state.last_exit is not None
        ]
        report(
            "crash at start",
            starts=final.starts,
            restarts=final.restart_count,
            delays=[s.next_restart_in for s in backoffs],
            measured_gaps=gaps,
            cpu_share_in_backoff=cpu_in_backoff,
            seconds=round(time.monotonic() - started, 1),
        )
        assert [s.next_restart_in for s in backoffs] == EXPECTED_DELAYS
        assert len(gaps) == len(EXPECTED_DELAYS)
        for gap, delay in zip(gaps, EXPECTED_DELAYS, strict=True):
            assert gap >= delay
        assert max(cpu_in_backoff) < 0.5, cpu_in_backoff  # a busy loop would be ~1.0 (one core)
        assert (final.starts, final.restart_count, final.exit_code, final.pid) == (4, 3, 1, None)
        assert (reported["runtimeStatus"], reported["restartCount"], reported["exitCode"]) == (FAILED, 3, 1)
        assert "gave up after 3 restarts" in reported["statusDescription"]
        assert logs.count("does not exist") == 4, logs[-2000:]
        assert logs.count("exited with code 1") == 4
