"""The agent: starts the deployment's modules, keeps them running per their restart policy,
stops them cleanly, and reports their runtime state (as edgeAgent's reported properties do)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from edgesim.agent.launcher import DEFAULT_STOP_GRACE_SECS, Launcher, ModuleHandle, ModuleLaunchError, ModuleRun
from edgesim.agent.policy import BackoffConfig, cool_off_secs, should_restart
from edgesim.deployment import ModuleStatus
from edgesim.jsontypes import JSONObject
from edgesim.tasks import spawn

log = logging.getLogger(__name__)

# Runtime statuses, edgeAgent's names.
UNKNOWN, RUNNING, BACKOFF, FAILED, STOPPED = "unknown", "running", "backoff", "failed", "stopped"


def _utc(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ModuleState:
    """What edgeAgent reports per module, plus the simulator's pid and attempt count."""

    name: str
    runtime_status: str = UNKNOWN
    exit_code: int | None = None
    status_description: str = ""
    restart_count: int = 0
    starts: int = 0
    pid: int | None = None
    last_start: float | None = None
    last_exit: float | None = None
    last_restart: float | None = None
    next_restart_in: float | None = None

    def to_reported(self) -> JSONObject:
        """The shape of ``$edgeAgent`` reported ``modules.<name>`` (edgeAgent's field names)."""
        return {
            "runtimeStatus": self.runtime_status,
            "exitCode": self.exit_code,
            "statusDescription": self.status_description,
            "restartCount": self.restart_count,
            "lastStartTimeUtc": _utc(self.last_start),
            "lastExitTimeUtc": _utc(self.last_exit),
            "lastRestartTimeUtc": _utc(self.last_restart),
        }

    def to_json(self) -> JSONObject:
        return {
            "name": self.name,
            **self.to_reported(),
            "pid": self.pid,
            "starts": self.starts,
            "nextRestartInSecs": self.next_restart_in,
        }


def _all_left_unknown(names: list[str]) -> Callable[[Mapping[str, ModuleState]], bool]:
    return lambda states: all(states[name].runtime_status != UNKNOWN for name in names)


def _groups(runs: Iterable[ModuleRun]) -> list[list[ModuleRun]]:
    groups: dict[float, list[ModuleRun]] = {}
    for run in runs:
        key = float("inf") if run.startup_order is None else float(run.startup_order)
        groups.setdefault(key, []).append(run)
    return [sorted(groups[key], key=lambda r: r.name) for key in sorted(groups)]


Reporter = Callable[[ModuleState], Awaitable[None]]


class Agent:
    """Supervises module processes on the running event loop."""

    def __init__(
        self,
        runs: Iterable[ModuleRun],
        launcher: Launcher,
        log_dir: Path,
        backoff: BackoffConfig | None = None,
        reporter: Reporter | None = None,
        stop_grace_secs: float = DEFAULT_STOP_GRACE_SECS,
    ) -> None:
        self.runs = {run.name: run for run in runs}
        self._launcher = launcher
        self.log_dir = log_dir
        self.backoff = backoff or BackoffConfig()
        self._reporter = reporter
        self._grace = stop_grace_secs
        self._states = {name: ModuleState(name) for name in self.runs}
        self._handles: dict[str, ModuleHandle] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._changed = asyncio.Condition()
        self._stopping = asyncio.Event()
        self._report_lock = asyncio.Lock()
        self._restart_requested: set[str] = set()
        self._retiring: set[str] = set()  # modules a redeploy removes or replaces: no restart, whatever the policy
        self._interrupts: dict[str, asyncio.Event] = {}  # cuts a module's backoff short (stop, redeploy)

    # ---- queries -------------------------------------------------------------------------
    def states(self) -> dict[str, ModuleState]:
        return dict(self._states)

    def log_path(self, name: str) -> Path:
        if name not in self.runs:
            raise ModuleLaunchError(f"no module {name!r} in the deployment")
        return self.log_dir / f"{name}.log"

    async def wait_for(self, predicate: Callable[[Mapping[str, ModuleState]], bool], timeout: float) -> None:
        """Wait until ``predicate(states)`` holds; ``TimeoutError`` otherwise."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self._states))

    # ---- lifecycle -----------------------------------------------------------------------
    def startup_groups(self) -> list[list[ModuleRun]]:
        """Modules grouped by startupOrder (lowest first; modules without one come last)."""
        return _groups(self.runs.values())

    async def start(self) -> None:
        """Start every module whose status is running, one startupOrder group after the other.

        Like edgeAgent, a group only waits for the previous group's processes to be started,
        not for them to be ready.
        """
        self.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for group in self.startup_groups():
            names = [run.name for run in group]
            for run in group:
                self._tasks[run.name] = spawn(self._supervise(run), f"agent:{run.name}")
            await self.wait_for(_all_left_unknown(names), timeout=60)

    async def stop(self) -> None:
        """Stop every module (SIGTERM to its process group, SIGKILL after the grace period)."""
        self._stopping.set()
        for event in self._interrupts.values():
            event.set()
        await asyncio.gather(
            *(handle.stop(self._grace) for handle in list(self._handles.values())), return_exceptions=True
        )
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def restart(self, name: str) -> None:
        """Restart a running module now (edgeAgent's RestartModule): stop it, then start it again at
        once, whatever its restart policy, counting the restart. Returns once the old process is gone."""
        if name not in self.runs:
            raise ModuleLaunchError(f"Module {name} not found in the current environment")
        handle = self._handles.get(name)
        if handle is None:
            raise ModuleLaunchError(
                f"Module {name} is not running (runtime status {self._states[name].runtime_status})"
            )
        self._restart_requested.add(name)
        await handle.stop(self._grace)

    # ---- redeploying ---------------------------------------------------------------------
    async def retire(self, name: str) -> ModuleState:
        """Stop supervising ``name`` (a redeploy removes or replaces it): its process stops and is not
        restarted, whatever its policy; it leaves the agent. Returns its last state."""
        if name not in self.runs:
            raise ModuleLaunchError(f"Module {name} not found in the current environment")
        self._retiring.add(name)
        self._interrupt(name).set()
        try:
            handle = self._handles.get(name)
            if handle is not None:  # else the supervisor stops it as soon as its launch returns
                await handle.stop(self._grace)
            task = self._tasks.pop(name, None)
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)
        finally:
            self._retiring.discard(name)
        self._interrupts.pop(name, None)
        del self.runs[name]
        return self._states.pop(name)

    async def launch(self, runs: Iterable[ModuleRun], keep: Mapping[str, ModuleState] | None = None) -> None:
        """Add modules to a running agent and start them by startupOrder, as ``start`` does.

        ``keep`` carries the start count of a replaced module over (its restart count starts at 0,
        as for a recreated container), so the counters that read it only ever grow."""
        new = list(runs)
        for run in new:
            if run.name in self.runs:
                raise ModuleLaunchError(f"Module {run.name} is already running")
        for run in new:
            self.runs[run.name] = run
            previous = (keep or {}).get(run.name)
            self._states[run.name] = ModuleState(run.name, starts=previous.starts if previous else 0)
        for group in _groups(new):
            for run in group:
                self._tasks[run.name] = spawn(self._supervise(run), f"agent:{run.name}")
            await self.wait_for(_all_left_unknown([run.name for run in group]), timeout=60)

    # ---- internals -----------------------------------------------------------------------
    def _interrupt(self, name: str) -> asyncio.Event:
        return self._interrupts.setdefault(name, asyncio.Event())

    def _ending(self, name: str) -> bool:
        return self._stopping.is_set() or name in self._retiring

    async def _set(self, state: ModuleState) -> None:
        self._states[state.name] = state
        async with self._changed:
            self._changed.notify_all()
        if self._reporter is not None:
            async with self._report_lock:  # keep reports in order
                try:
                    await self._reporter(state)
                except Exception:  # reporting must not kill supervision; but say so loudly
                    log.exception("could not report the state of module %s", state.name)

    def _log_line(self, name: str, text: str) -> None:
        with open(self.log_path(name), "a", encoding="utf-8") as log_file:
            log_file.write(f"--- edgesim {_utc(time.time())}: {text}\n")

    async def _supervise(self, run: ModuleRun) -> None:
        try:
            await self._supervise_module(run)
        except Exception as exc:  # a bug or an I/O error here must show, not leave a stale "running"
            log.exception("supervising module %s failed", run.name)
            await self._set(
                replace(
                    self._states[run.name], runtime_status=FAILED, pid=None, status_description=f"agent error: {exc}"
                )
            )

    async def _supervise_module(self, run: ModuleRun) -> None:
        name = run.name
        if run.status is ModuleStatus.STOPPED:
            await self._set(
                replace(self._states[name], runtime_status=STOPPED, status_description="desired status is stopped")
            )
            return
        while not self._ending(name):
            state = self._states[name]
            self._log_line(name, f"starting (start {state.starts + 1}, restart count {state.restart_count})")
            try:
                handle = await self._launcher.launch(run, self.log_path(name))
            except ModuleLaunchError as exc:
                self._log_line(name, str(exc))
                log.error("%s", exc)
                await self._set(replace(state, runtime_status=FAILED, status_description=str(exc), pid=None))
                return
            self._handles[name] = handle
            if name in self._retiring:  # retired while it was launching
                await handle.stop(self._grace)
            started = time.time()
            await self._set(
                replace(
                    state,
                    runtime_status=RUNNING,
                    pid=handle.pid,
                    last_start=started,
                    starts=state.starts + 1,
                    status_description="",
                    next_restart_in=None,
                )
            )
            code = await handle.wait()
            handle.kill_leftovers()
            self._handles.pop(name, None)
            exited = time.time()
            self._log_line(name, f"exited with code {code}")
            state = replace(self._states[name], exit_code=code, last_exit=exited, pid=None)
            if self._ending(name):
                await self._set(replace(state, runtime_status=STOPPED, status_description="stopped by the simulator"))
                return
            if name in self._restart_requested:  # RestartModule: no policy, no backoff
                self._restart_requested.discard(name)
                self._states[name] = replace(state, restart_count=state.restart_count + 1, last_restart=time.time())
                continue
            if exited - started >= self.backoff.intensive_care_secs:
                state = replace(state, restart_count=0)  # it stayed up long enough: a fresh start
            if not should_restart(run.restart_policy, code):
                status = STOPPED if code == 0 else FAILED
                await self._set(
                    replace(
                        state,
                        runtime_status=status,
                        status_description=f"exited with code {code}; restartPolicy {run.restart_policy.value}",
                    )
                )
                return
            if state.restart_count >= self.backoff.max_restarts:
                await self._set(
                    replace(
                        state,
                        runtime_status=FAILED,
                        status_description=f"exited with code {code}; gave up after {state.restart_count} restarts",
                    )
                )
                return
            delay = cool_off_secs(self.backoff, state.restart_count)
            await self._set(
                replace(
                    state,
                    runtime_status=BACKOFF,
                    next_restart_in=delay,
                    status_description=f"exited with code {code}; restarting in {delay:g} s",
                )
            )
            interrupt = self._interrupt(name)  # no await between this and the check: stop() cannot slip in
            if not self._ending(name):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(interrupt.wait(), delay)
            if self._ending(name):
                await self._set(
                    replace(
                        self._states[name],
                        runtime_status=STOPPED,
                        next_restart_in=None,
                        status_description="stopped by the simulator",
                    )
                )
                return
            current = self._states[name]
            self._states[name] = replace(current, restart_count=current.restart_count + 1, last_restart=time.time())
