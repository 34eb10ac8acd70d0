"""The simulator's edgeAgent: runs the deployment's modules and keeps them running."""

from edgesim.agent.launcher import (
    Launcher,
    ModuleHandle,
    ModuleLaunchError,
    ModuleRun,
    ProcessLauncher,
    split_assignments,
)
from edgesim.agent.policy import BackoffConfig, cool_off_secs, should_restart
from edgesim.agent.supervisor import BACKOFF, FAILED, RUNNING, STOPPED, UNKNOWN, Agent, ModuleState

__all__ = [
    "BACKOFF",
    "FAILED",
    "RUNNING",
    "STOPPED",
    "UNKNOWN",
    "Agent",
    "BackoffConfig",
    "Launcher",
    "ModuleHandle",
    "ModuleLaunchError",
    "ModuleRun",
    "ModuleState",
    "ProcessLauncher",
    "cool_off_secs",
    "should_restart",
    "split_assignments",
]
