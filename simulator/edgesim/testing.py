"""Test your own modules against the simulator: a synchronous harness (plain Python, no pytest).

The harness runs a whole ``Simulator`` (hub, workload API, agent, control API) on an event loop
in a background thread, so plain synchronous tests can drive it::

    from edgesim.testing import run_simulator

    def test_my_module(tmp_path):
        with run_simulator("deployment.json", state_dir=tmp_path / "sim", host="127.0.0.42",
                           modules_dir="modules") as sim:
            sim.wait_connected("mymodule")
            sim.send("mymodule", "input1", {"text": "hello"})
            [record] = sim.wait_upstream(count=1)
            assert record.module == "mymodule"
            assert sim.invoke("mymodule", "ping", {})[0] == 200

Or with the pytest fixture (``edgesim.pytest_plugin``, which pytest loads by itself once edgeship
is installed)::

    def test_with_fixture(edgesim_factory):
        sim = edgesim_factory("deployment.json", host="127.0.0.43", modules_dir="modules")
        ...   # stopped (modules included) when the test ends

Pick a distinct 127.x.y.z per simulator that runs at the same time: the hub always listens on
port 8883 (the SDK cannot dial another one).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from edgesim.agent import ModuleState
from edgesim.agent.reconcile import Plan
from edgesim.errors import SimulatorError
from edgesim.hub import UpstreamRecord
from edgesim.hub.twins import TwinDocument
from edgesim.hub.upstream import LinkState
from edgesim.jsontypes import JSONLike
from edgesim.message import Message
from edgesim.runtime import Simulator, SimulatorConfig, SimulatorStatus

T = TypeVar("T")
DEFAULT_TIMEOUT = 30.0
# For conftests written before the plugin had its own module (pytest_plugins = ["edgesim.testing"]):
# pytest follows this to the fixture; a plain list, so importing the harness still needs no pytest.
pytest_plugins = ["edgesim.pytest_plugin"]


class SimulatorHarness:
    """A ``Simulator`` on a background event loop, with blocking helpers for tests."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="edgesim", daemon=True)
        self._simulator: Simulator | None = None

    # ---- lifecycle ---------------------------------------------------------------------
    def _call(self, coro: Coroutine[object, object, T], timeout: float = DEFAULT_TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> SimulatorHarness:
        self._thread.start()

        async def create_and_start() -> Simulator:
            simulator = Simulator(self.config)
            await simulator.start()
            return simulator

        try:
            self._simulator = self._call(create_and_start(), timeout=120)
        except BaseException:
            self._shutdown_loop()
            raise
        return self

    def stop(self) -> None:
        """Stop modules and the simulator; idempotent."""
        if self._simulator is not None:
            simulator, self._simulator = self._simulator, None
            try:
                self._call(simulator.stop(), timeout=self.config.stop_grace_secs + 60)
            finally:
                self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> SimulatorHarness:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = DEFAULT_TIMEOUT) -> T:
        """Run ``coro`` on the simulator's event loop and wait for its result."""
        return self._call(coro, timeout)

    def run(self, fn: Callable[[], T], timeout: float = DEFAULT_TIMEOUT) -> T:
        """Call ``fn`` on the simulator's event loop (the simulator is not thread-safe) and return its result."""
        return self._call(self._on_loop(fn), timeout)

    @property
    def simulator(self) -> Simulator:
        if self._simulator is None:
            raise SimulatorError("the simulator is not running")
        return self._simulator

    @property
    def control_url(self) -> str:
        return self.simulator.control_url

    # ---- messages ----------------------------------------------------------------------
    def send(
        self,
        module: str,
        input_name: str,
        body: object,
        properties: Mapping[str, str] | None = None,
        message_id: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        """Send to a module input; ``body`` is bytes, or any JSON value (sent as application/json)."""
        message = _message(body, properties, message_id, correlation_id)
        self._call(self.simulator.send(module, input_name, message))

    def upstream(self, since: int = 0) -> list[UpstreamRecord]:
        return self._call(self._upstream_since(since))

    # ---- leaf devices ------------------------------------------------------------------
    def add_device(self, name: str) -> dict[str, str]:
        """A leaf device: ``{"device_id", "connection_string", "ca_cert"}`` (the key persists in the state dir)."""
        return self._call(self._on_loop(lambda: self.simulator.add_device(name)))

    def remove_device(self, name: str) -> None:
        self._call(self._on_loop(lambda: self.simulator.remove_device(name)))

    def send_c2d(
        self,
        device: str,
        body: object,
        properties: Mapping[str, str] | None = None,
        ttl_secs: float = 3600.0,
        message_id: str | None = None,
    ) -> None:
        """A cloud-to-device message; ``body`` is bytes, or any JSON value (sent as application/json)."""
        self._call(self.simulator.hub.send_to_device(device, _message(body, properties, message_id), ttl_secs))

    @staticmethod
    async def _on_loop(fn: Callable[[], T]) -> T:
        return fn()  # the Simulator is not thread-safe: its methods run on its own loop

    async def _upstream_since(self, since: int) -> list[UpstreamRecord]:
        return self.simulator.hub.upstream_since(since)

    def wait_upstream(
        self,
        count: int = 1,
        since: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
        where: Callable[[UpstreamRecord], bool] | None = None,
    ) -> list[UpstreamRecord]:
        """Wait until ``count`` $upstream records (after ``since``, matching ``where``) exist; return them."""
        return self._call(self._wait_upstream(count, since, timeout, where), timeout=timeout + 5)

    async def _wait_upstream(
        self, count: int, since: int, timeout: float, where: Callable[[UpstreamRecord], bool] | None
    ) -> list[UpstreamRecord]:
        hub = self.simulator.hub
        found: list[UpstreamRecord] = []
        seq = since
        deadline = time.monotonic() + timeout
        while True:
            for record in hub.upstream_since(seq):
                seq = max(seq, record.seq)
                if where is None or where(record):
                    found.append(record)
            if len(found) >= count:
                return found[:count]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(found)} of {count} $upstream messages within {timeout:g} s")
            with contextlib.suppress(TimeoutError):  # the loop re-checks and reports how many arrived
                await hub.wait_upstream(seq, remaining)

    # ---- the link to the cloud ------------------------------------------------------------
    def upstream_offline(self) -> LinkState:
        """Take the cloud away: ``$upstream`` messages wait in the store (TTL applies) until ``upstream_online``."""
        return self._call(self._on_loop(lambda: self.simulator.hub.forwarding.link.set_online(False)))

    def upstream_online(self) -> LinkState:
        """Bring the cloud back: what waited drains to ``$upstream`` in order."""
        return self._call(self._on_loop(lambda: self.simulator.hub.forwarding.link.set_online(True)))

    def upstream_link(self) -> LinkState:
        """``{"link": "online"|"offline", "pending", "expired", "delivered_after_outage"}``."""
        return self._call(self._on_loop(self.simulator.hub.forwarding.link.state))

    # ---- twins and methods -------------------------------------------------------------
    # The twin and a method's answer are JSON read by key in callers' tests: Any, so they need no narrowing.
    def invoke(
        self, module: str, method: str, payload: JSONLike = None, timeout: float = DEFAULT_TIMEOUT
    ) -> tuple[int, Any]:
        return self._call(self.simulator.hub.invoke_method(module, method, payload, timeout), timeout=timeout + 5)

    def twin(self, module: str) -> dict[str, Any]:
        return self._call(self._twin(module))

    async def _twin(self, module: str) -> dict[str, Any]:
        return _loose(self.simulator.hub.get_twin(module))

    def patch_desired(self, module: str, patch: Mapping[str, JSONLike]) -> dict[str, Any]:
        return _loose(self._call(self.simulator.hub.patch_desired(module, patch)))

    # ---- modules -----------------------------------------------------------------------
    def status(self) -> SimulatorStatus:
        return self._call(self._status())

    async def _status(self) -> SimulatorStatus:
        return self.simulator.status()

    def module_state(self, module: str) -> ModuleState:
        return self._call(self._module_state(module))

    async def _module_state(self, module: str) -> ModuleState:
        self.simulator.require_module(module)
        return self.simulator.agent.states()[module]

    def wait_module(
        self, module: str, predicate: Callable[[ModuleState], bool], timeout: float = DEFAULT_TIMEOUT
    ) -> ModuleState:
        """Wait until the agent's state of ``module`` satisfies ``predicate``."""
        self._call(self.simulator.agent.wait_for(lambda states: predicate(states[module]), timeout), timeout + 5)
        return self.module_state(module)

    def wait_connected(self, *modules: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the given modules (default: all running ones) hold a connection to the hub."""
        self._call(self._wait_connected(modules, timeout), timeout=timeout + 5)

    async def _wait_connected(self, modules: tuple[str, ...], timeout: float) -> None:
        wanted = set(modules) or {
            spec.name for spec in self.simulator.deployment.modules if spec.status.value == "running"
        }
        async with asyncio.timeout(timeout):
            # The hub API has no connection event; a short poll on the loop is cheap and bounded.
            while not wanted <= self.simulator.hub.connected_modules():
                await asyncio.sleep(0.02)

    def logs(self, module: str) -> str:
        return self.simulator.log_text(module)

    # ---- redeploying (issue #18) ---------------------------------------------------------------
    def deploy(self, manifest: str | Path, timeout: float = 120.0) -> Plan:
        """Apply a changed manifest to the running simulator (``sim deploy``); returns what it did."""
        return self._call(self.simulator.deploy(Path(manifest)), timeout=timeout)

    def restart(self, module: str, timeout: float = 60.0) -> ModuleState:
        """Restart ``module`` now (``sim restart``); returns its state once it runs again."""
        return self._call(self.simulator.restart_module(module), timeout=timeout)


def run_simulator_config(manifest: str | Path, **options: Any) -> SimulatorConfig:
    """A ``SimulatorConfig`` from keyword options (paths may be strings)."""
    for key in ("state_dir", "modules_dir"):
        if key in options:
            options[key] = Path(options[key])
    return SimulatorConfig(manifest=Path(manifest), **options)


@contextmanager
def run_simulator(manifest: str | Path, **options: Any) -> Iterator[SimulatorHarness]:
    """Start a simulator for ``manifest`` (options: the fields of ``SimulatorConfig``); stop it on exit."""
    harness = SimulatorHarness(run_simulator_config(manifest, **options)).start()
    try:
        yield harness
    finally:
        harness.stop()


def _loose(twin: TwinDocument) -> dict[str, Any]:
    return {"desired": twin["desired"], "reported": twin["reported"]}


def _message(
    body: object, properties: Mapping[str, str] | None, message_id: str | None = None, correlation_id: str | None = None
) -> Message:
    """Bytes as they are; any other value as JSON with its content type and encoding set."""
    system: dict[str, str] = {}
    if isinstance(body, bytes):
        data = body
    else:
        data = json.dumps(body).encode("utf-8")
        system.update(contentType="application/json", contentEncoding="utf-8")
    if message_id is not None:
        system["messageId"] = message_id
    if correlation_id is not None:
        system["correlationId"] = correlation_id
    return Message(body=data, properties=dict(properties or {}), system_properties=system)
