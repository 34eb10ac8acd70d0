"""edgeAgent's built-in Prometheus metrics (Microsoft's "built-in metrics" names and labels),
fed by the agent's state changes and read on each scrape."""

from __future__ import annotations

import time
import uuid

from prometheus_client import CollectorRegistry, Counter, Gauge

from edgesim.agent.supervisor import RUNNING, ModuleState

COMMON = ("iothub", "edge_device", "instance_number")


class AgentMetrics:
    def __init__(
        self,
        hub_hostname: str,
        device_id: str,
        versions: dict[str, str],
        registry: CollectorRegistry | None = None,
        instance_number: str | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self._common = {
            "iothub": hub_hostname,
            "edge_device": device_id,
            "instance_number": instance_number or str(uuid.uuid4()),
        }
        self._versions = versions  # module -> version, for module_version
        self._started_at = time.time()
        self._expected = set[str]()
        self._previous: dict[str, ModuleState] = {}
        self._ran_secs: dict[str, float] = {}
        r = self.registry
        self._starts = Counter(
            "edgeAgent_module_start",
            "Times edgeAgent started a module",
            (*COMMON, "module_name", "module_version"),
            registry=r,
        )
        self._stops = Counter(
            "edgeAgent_module_stop", "Times a module stopped", (*COMMON, "module_name", "module_version"), registry=r
        )
        self._running = Gauge(
            "edgeAgent_total_time_running_correctly_seconds",
            "How long the module has been running",
            (*COMMON, "module_name"),
            registry=r,
        )
        self._expected_secs = Gauge(
            "edgeAgent_total_time_expected_running_seconds",
            "How long the module was expected to run",
            (*COMMON, "module_name"),
            registry=r,
        )
        # Microsoft's name ends in _count; a prometheus-client Counter would append _total, so a Gauge counts it.
        self._methods = Gauge(
            "edgeAgent_direct_method_invocations_count",
            "Calls of edgeAgent's direct methods",
            (*COMMON, "method_name"),
            registry=r,
        )

    def expect_running(self, name: str) -> None:
        self._expected.add(name)

    def redeployed(self, versions: dict[str, str], running: set[str]) -> None:
        """A new deployment: its module versions label the counters, its running modules are expected to run.
        A removed module's series stay: counters never go back."""
        self._versions.clear()
        self._versions.update(versions)
        self._expected = set(running)

    def method_called(self, method_name: str) -> None:
        self._methods.labels(**self._common, method_name=method_name).inc()

    def observe(self, state: ModuleState) -> None:
        previous = self._previous.get(state.name)
        version = self._versions.get(state.name, "")
        if state.starts > (previous.starts if previous else 0):
            self._starts.labels(**self._common, module_name=state.name, module_version=version).inc()
        if previous is not None and previous.runtime_status == RUNNING and state.runtime_status != RUNNING:
            self._stops.labels(**self._common, module_name=state.name, module_version=version).inc()
        if (
            previous is not None
            and previous.last_start is not None
            and state.last_exit is not None
            and previous.pid is not None
            and state.pid is None
        ):
            self._ran_secs[state.name] = self._ran_secs.get(state.name, 0.0) + state.last_exit - previous.last_start
        self._previous[state.name] = state

    def refresh(self) -> None:
        """Set the time gauges for now: called before each scrape."""
        now = time.time()
        for name in self._expected:
            self._expected_secs.labels(**self._common, module_name=name).set(now - self._started_at)
        for name, state in self._previous.items():
            current = now - state.last_start if state.runtime_status == RUNNING and state.last_start else 0.0
            self._running.labels(**self._common, module_name=name).set(self._ran_secs.get(name, 0.0) + current)
