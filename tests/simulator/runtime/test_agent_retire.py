"""The agent's redeploy operations with throwaway module processes: ``retire`` (no restart, whatever the
policy; also from backoff) and ``launch`` (new modules by startupOrder, counters carried over)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from edgesim.agent import BACKOFF, RUNNING, STOPPED, BackoffConfig, ModuleLaunchError, ModuleRun
from edgesim.deployment import RestartPolicy
from tests.support.agent import Recorder, make_agent, settled, write_module
from tests.support.loop import run_async
from tests.support.procfs import pid_gone

pytestmark = pytest.mark.integration

SLEEPER = "import time\nwhile True:\n    time.sleep(1)\n"


@run_async
async def test_retire_stops_a_running_module_for_good_and_forgets_it(tmp_path: Path) -> None:
    write_module(tmp_path / "modules", "keep", SLEEPER)
    write_module(tmp_path / "modules", "go", SLEEPER)
    recorder = Recorder()
    agent = make_agent(
        tmp_path, [ModuleRun("keep", {}), ModuleRun("go", {}, restart_policy=RestartPolicy.ALWAYS)], recorder
    )
    await agent.start()
    try:
        await agent.wait_for(lambda s: s["keep"].runtime_status == RUNNING and s["go"].runtime_status == RUNNING, 30)
        keep_pid, go_pid = agent.states()["keep"].pid, agent.states()["go"].pid
        assert keep_pid is not None
        assert go_pid is not None
        last = await agent.retire("go")
        assert (last.runtime_status, last.pid) == (STOPPED, None)
        assert pid_gone(go_pid)
        assert "go" not in agent.runs
        assert set(agent.states()) == {"keep"}
        assert agent.states()["keep"].pid == keep_pid  # the other module was not touched
        assert recorder.statuses("go")[-1] == STOPPED  # not restarted under "always"
        with pytest.raises(ModuleLaunchError):
            await agent.retire("go")
    finally:
        await agent.stop()


@run_async
async def test_retire_cuts_a_backoff_short(tmp_path: Path) -> None:
    write_module(tmp_path / "modules", "crash", "raise SystemExit(3)\n")
    agent = make_agent(tmp_path, [ModuleRun("crash", {}, restart_policy=RestartPolicy.ALWAYS)], Recorder())
    agent.backoff = BackoffConfig(cool_off_unit_secs=60)  # a restart a minute away
    await agent.start()
    try:
        await agent.wait_for(settled("crash", BACKOFF), 30)
        began = time.monotonic()
        last = await asyncio.wait_for(agent.retire("crash"), 10)
        assert time.monotonic() - began < 5
        assert last.runtime_status == STOPPED
        assert agent.runs == {}
    finally:
        await agent.stop()


@run_async
async def test_launch_adds_modules_by_startup_order_and_keeps_their_start_count(tmp_path: Path) -> None:
    for name in ("first", "second", "again"):
        write_module(tmp_path / "modules", name, SLEEPER)
    recorder = Recorder()
    agent = make_agent(tmp_path, [ModuleRun("again", {})], recorder)
    await agent.start()
    try:
        await agent.wait_for(settled("again", RUNNING), 30)
        old_pid = agent.states()["again"].pid
        last = await agent.retire("again")
        await agent.launch(
            [ModuleRun("second", {}, startup_order=2), ModuleRun("first", {}, startup_order=1), ModuleRun("again", {})],
            keep={"again": last},
        )
        await agent.wait_for(lambda s: all(state.runtime_status == RUNNING for state in s.values()), 30)
        states = agent.states()
        assert set(states) == {"first", "second", "again"}
        assert states["again"].pid != old_pid
        assert (states["again"].starts, states["again"].restart_count) == (2, 0)
        started = [state.name for state in recorder.reports if state.runtime_status == RUNNING]
        assert started[1:] == ["first", "second", "again"]  # after the first "again": by startupOrder
        with pytest.raises(ModuleLaunchError, match="already running"):
            await agent.launch([ModuleRun("first", {})])
    finally:
        await agent.stop()
    assert [state.pid for state in agent.states().values()] == [None, None, None]
