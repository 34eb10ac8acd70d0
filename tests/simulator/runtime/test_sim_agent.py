"""The agent with tiny throwaway module processes: restart policies, backoff, order, clean stop."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from edgesim.agent import (
    BACKOFF,
    FAILED,
    RUNNING,
    STOPPED,
    Agent,
    BackoffConfig,
    ModuleRun,
    ProcessLauncher,
    cool_off_secs,
    should_restart,
)
from edgesim.deployment import ModuleStatus, RestartPolicy
from tests.support.agent import FAST, Recorder, make_agent, write_module
from tests.support.loop import run_async
from tests.support.procfs import pid_gone

pytestmark = pytest.mark.integration


def test_policy_table_matches_edge_agent() -> None:
    assert [should_restart(RestartPolicy.NEVER, code) for code in (0, 1)] == [False, False]
    assert [should_restart(RestartPolicy.ON_FAILURE, code) for code in (0, 1)] == [False, True]
    assert [should_restart(RestartPolicy.ON_UNHEALTHY, code) for code in (0, 1)] == [False, True]
    assert [should_restart(RestartPolicy.ALWAYS, code) for code in (0, 1)] == [True, True]
    default = BackoffConfig()
    assert [cool_off_secs(default, n) for n in range(7)] == [10, 20, 40, 80, 160, 300, 300]


@run_async
async def test_on_failure_restarts_with_exponential_backoff_then_fails(tmp_path: Path) -> None:
    write_module(
        tmp_path / "modules",
        "crasher",
        """
        import sys
        print("crashing now")
        sys.exit(3)
    """,
    )
    recorder = Recorder()
    agent = make_agent(tmp_path, [ModuleRun("crasher", env={}, restart_policy=RestartPolicy.ON_FAILURE)], recorder)
    await agent.start()
    await agent.wait_for(lambda s: s["crasher"].runtime_status == FAILED, timeout=30)
    state = agent.states()["crasher"]
    assert (state.starts, state.restart_count, state.exit_code) == (4, 3, 3)
    assert "gave up after 3 restarts" in state.status_description
    delays = [s.next_restart_in for s in recorder.reports if s.runtime_status == BACKOFF]
    assert delays == [0.05, 0.1, 0.2]
    starts = [s.last_start for s in recorder.reports if s.runtime_status == RUNNING]
    exits = [s.last_exit for s in recorder.reports if s.runtime_status == BACKOFF]
    for delay, exited, restarted in zip(delays, exits, starts[1:], strict=True):
        assert restarted is not None
        assert exited is not None
        assert delay is not None
        assert restarted - exited >= delay
    log_text = agent.log_path("crasher").read_text()
    assert log_text.count("crashing now") == 4
    assert "exited with code 3" in log_text
    await agent.stop()


@run_async
async def test_never_does_not_restart_and_on_failure_keeps_a_clean_exit_stopped(tmp_path: Path) -> None:
    write_module(tmp_path / "modules", "once", "import sys; sys.exit(2)\n")
    write_module(tmp_path / "modules", "clean", "print('done')\n")
    recorder = Recorder()
    agent = make_agent(
        tmp_path,
        [
            ModuleRun("once", env={}, restart_policy=RestartPolicy.NEVER),
            ModuleRun("clean", env={}, restart_policy=RestartPolicy.ON_FAILURE),
        ],
        recorder,
    )
    await agent.start()
    await agent.wait_for(lambda s: s["once"].runtime_status == FAILED and s["clean"].runtime_status == STOPPED, 30)
    states = agent.states()
    assert (states["once"].starts, states["once"].exit_code) == (1, 2)
    assert (states["clean"].starts, states["clean"].exit_code) == (1, 0)
    assert BACKOFF not in recorder.statuses("once") + recorder.statuses("clean")
    await agent.stop()


@run_async
async def test_always_restarts_after_exit_zero(tmp_path: Path) -> None:
    write_module(tmp_path / "modules", "oneshot", "print('hello')\n")
    recorder = Recorder()
    agent = make_agent(tmp_path, [ModuleRun("oneshot", env={}, restart_policy=RestartPolicy.ALWAYS)], recorder)
    await agent.start()
    await agent.wait_for(lambda s: s["oneshot"].starts >= 3, timeout=30)
    assert agent.states()["oneshot"].exit_code == 0
    assert BACKOFF in recorder.statuses("oneshot")
    await agent.stop()
    assert agent.states()["oneshot"].runtime_status == STOPPED


@run_async
async def test_stopped_status_is_not_started(tmp_path: Path) -> None:
    write_module(tmp_path / "modules", "idle", "raise SystemExit('must not run')\n")
    recorder = Recorder()
    agent = make_agent(tmp_path, [ModuleRun("idle", env={}, status=ModuleStatus.STOPPED)], recorder)
    await agent.start()
    state = agent.states()["idle"]
    assert (state.runtime_status, state.starts, state.pid) == (STOPPED, 0, None)
    assert recorder.statuses("idle") == [STOPPED]
    await agent.stop()


@run_async
async def test_startup_order_is_honoured(tmp_path: Path) -> None:
    names = {"late": None, "first": 0, "second": 1, "third": 5}
    for name in names:
        write_module(tmp_path / "modules", name, "import time; time.sleep(60)\n")
    recorder = Recorder()
    runs = [ModuleRun(name, env={}, startup_order=order) for name, order in names.items()]
    agent = make_agent(tmp_path, runs, recorder)
    groups = [[run.name for run in group] for group in agent.startup_groups()]
    assert groups == [["first"], ["second"], ["third"], ["late"]]
    await agent.start()
    assert [s.name for s in recorder.reports if s.runtime_status == RUNNING] == ["first", "second", "third", "late"]
    await agent.stop()


@run_async
async def test_environment_reaches_the_module(tmp_path: Path) -> None:
    write_module(
        tmp_path / "modules",
        "envy",
        """
        import os
        print("VALUE=" + os.environ["IOTEDGE_MODULEID"] + "/" + os.environ["MY_SETTING"])
        print("SCRUBBED=" + str("EdgeHubConnectionString" in os.environ))
    """,
    )
    recorder = Recorder()
    os.environ["EDGEHUBCONNECTIONSTRING"] = "HostName=x"  # must not leak into modules
    try:
        launcher = ProcessLauncher(tmp_path / "modules")
    finally:
        del os.environ["EDGEHUBCONNECTIONSTRING"]
    agent = Agent(
        [ModuleRun("envy", env={"IOTEDGE_MODULEID": "envy", "MY_SETTING": "42"}, restart_policy=RestartPolicy.NEVER)],
        launcher,
        tmp_path / "logs",
        reporter=recorder,
    )
    await agent.start()
    await agent.wait_for(lambda s: s["envy"].runtime_status == STOPPED, timeout=30)
    log_text = agent.log_path("envy").read_text()
    assert "VALUE=envy/42" in log_text
    assert "SCRUBBED=False" in log_text
    await agent.stop()


@run_async
async def test_override_command_and_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "modules").mkdir()
    recorder = Recorder()
    launcher = ProcessLauncher(tmp_path / "modules", {"custom": f"{sys.executable} -c 'print(123)'"})
    agent = Agent(
        [
            ModuleRun("custom", env={}, restart_policy=RestartPolicy.NEVER),
            ModuleRun("nofolder", env={}, restart_policy=RestartPolicy.ALWAYS),
        ],
        launcher,
        tmp_path / "logs",
        reporter=recorder,
        backoff=FAST,
    )
    await agent.start()
    await agent.wait_for(lambda s: s["custom"].runtime_status == STOPPED and s["nofolder"].runtime_status == FAILED, 30)
    assert "123" in agent.log_path("custom").read_text()
    assert "no folder" in agent.states()["nofolder"].status_description
    await agent.stop()


@run_async
async def test_stop_leaves_no_processes_even_when_sigterm_is_ignored(tmp_path: Path) -> None:
    write_module(
        tmp_path / "modules",
        "stubborn",
        """
        import pathlib, signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        pathlib.Path("child.pid").write_text(str(child.pid))
        print("ready", flush=True)
        time.sleep(600)
    """,
    )
    write_module(tmp_path / "modules", "polite", "import time; time.sleep(600)\n")
    recorder = Recorder()
    agent = make_agent(tmp_path, [ModuleRun("stubborn", env={}), ModuleRun("polite", env={})], recorder, grace=0.5)
    await agent.start()
    pid_file = tmp_path / "modules" / "stubborn" / "child.pid"
    async with asyncio.timeout(30):
        while "ready" not in agent.log_path("stubborn").read_text():
            await asyncio.sleep(0.05)  # waiting for the module's own output: no event to wait on across processes
    pids: Mapping[str, int | None] = {name: state.pid for name, state in agent.states().items()}
    child = int(pid_file.read_text())
    assert all(pid is not None and not pid_gone(pid) for pid in pids.values())
    assert not pid_gone(child)
    await agent.stop()
    for pid in [*pids.values(), child]:
        assert pid is not None
        async with asyncio.timeout(10):
            while not pid_gone(pid):  # the orphaned grandchild is reaped by init asynchronously
                await asyncio.sleep(0.02)
    states = agent.states()
    assert states["stubborn"].runtime_status == STOPPED
    assert states["stubborn"].exit_code == -9
    assert states["polite"].exit_code == -15


@run_async
async def test_a_module_that_stayed_up_long_enough_starts_over_with_a_fresh_restart_count(tmp_path: Path) -> None:
    write_module(tmp_path / "modules", "flaky", "import sys, time; time.sleep(0.3); sys.exit(1)\n")
    recorder = Recorder()
    strict = BackoffConfig(cool_off_unit_secs=0.01, max_restarts=1, intensive_care_secs=0.2)
    agent = Agent(
        [ModuleRun("flaky", env={}, restart_policy=RestartPolicy.ON_FAILURE)],
        ProcessLauncher(tmp_path / "modules"),
        tmp_path / "logs",
        backoff=strict,
        reporter=recorder,
    )
    await agent.start()
    await agent.wait_for(lambda s: s["flaky"].starts >= 3, timeout=30)
    assert FAILED not in recorder.statuses("flaky")  # without the reset it would fail after one restart
    await agent.stop()
