"""Helpers of the simulator's agent tests: module folders, a report recorder, an agent with fast back-off."""

from __future__ import annotations

import itertools
import os
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

from edgesim.agent import Agent, BackoffConfig, ModuleRun, ModuleState, ProcessLauncher

# The modules of the agent-methods tests (a talker and a quiet one, with their deployment).
AGENT_MODULES = Path(__file__).resolve().parents[1] / "simulator" / "runtime" / "agentmods"


_hosts = itertools.count(1)


def unique_host() -> str:
    # Its own loopback address per simulator (8883 and 443 are fixed ports); 127.1.x.y is ours alone.
    return f"127.1.{os.getpid() % 250}.{next(_hosts) % 250 + 1}"


FAST = BackoffConfig(cool_off_unit_secs=0.05, max_cool_off_secs=0.2, max_restarts=3, intensive_care_secs=600)


def write_module(modules_dir: Path, name: str, code: str) -> None:
    folder = modules_dir / name
    folder.mkdir(parents=True)
    (folder / "main.py").write_text(textwrap.dedent(code))


class Recorder:
    def __init__(self) -> None:
        self.reports: list[ModuleState] = []

    async def __call__(self, state: ModuleState) -> None:
        self.reports.append(state)

    def statuses(self, name: str) -> list[str]:
        return [state.runtime_status for state in self.reports if state.name == name]


def make_agent(tmp_path: Path, runs: list[ModuleRun], recorder: Recorder, grace: float = 5.0) -> Agent:
    return Agent(
        runs,
        ProcessLauncher(tmp_path / "modules"),
        tmp_path / "logs",
        backoff=FAST,
        reporter=recorder,
        stop_grace_secs=grace,
    )


def settled(name: str, status: str) -> Callable[[Mapping[str, ModuleState]], bool]:
    return lambda states: states[name].runtime_status == status
