"""The simulator: one asyncio loop running the hub, the workload API, the agent and the control API.

``Simulator(config).run()`` is what ``edgeship sim start`` runs in the foreground; ``start()`` /
``stop()`` let tests and ``edgesim.testing`` drive it. While it runs, ``<state>/sim.json`` tells
the CLI where the control API listens; an exclusive lock on ``<state>/sim.lock`` keeps two
simulators from sharing a state directory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from edgesim import sas
from edgesim.agent import Agent, ModuleRun, ModuleState, ProcessLauncher
from edgesim.agent.docker_launcher import DockerLauncher
from edgesim.agent.launcher import Launcher
from edgesim.agent.methods import AgentMethods
from edgesim.agent.metrics import AgentMetrics
from edgesim.certs import CertBundle, ensure_certificates
from edgesim.control import ControlApi
from edgesim.defaults import RUNTIMES
from edgesim.deployment import Deployment, load_deployment
from edgesim.errors import SimulatorError, UnknownModuleError
from edgesim.hub.devices import DeviceRegistry
from edgesim.hub.forwarding import ForwardingState
from edgesim.hub.twins import version_of
from edgesim.message import Message
from edgesim.simconfig import (
    SimulatorConfig,
    SimulatorStateError,
    SimulatorStatus,
    agent_runtime_reported,
    hub_runtime_reported,
    is_loopback,
    lock_state_dir,
    module_reported,
)
from edgesim.state_file import STATE_FILE, SimulatorState, remove_state, write_state
from edgesim.workload import WorkloadApi, WorkloadIdentity

if TYPE_CHECKING:
    from edgesim.agent.reconcile import Plan
    from edgesim.hub import Hub
    from edgesim.metrics import MetricsServer

log = logging.getLogger(__name__)

__all__ = ["RUNTIMES", "STATE_FILE", "Simulator", "SimulatorConfig", "SimulatorStateError", "SimulatorStatus"]


class Simulator:
    """Runs one deployment. Not thread-safe: use it from the loop it was started on."""

    def __init__(self, config: SimulatorConfig) -> None:
        if config.runtime not in RUNTIMES:
            raise SimulatorError(f"unknown runtime {config.runtime!r} (expected one of {', '.join(RUNTIMES)})")
        self.config = config
        self.state_dir = config.state_dir.resolve()
        self.deployment: Deployment = load_deployment(config.manifest)
        unknown = sorted(set(config.module_commands) - set(self.deployment.module_names))
        if unknown:
            raise SimulatorError(f"--module names a module the deployment does not have: {', '.join(unknown)}")
        self._keys = {name: sas.generate_key() for name in self.deployment.module_names}
        self._generation_ids = {name: secrets.token_hex(8) for name in self.deployment.module_names}
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        self._started = asyncio.Event()
        self._lock: IO[str] | None = None
        self._socket_tmp: Path | None = None
        self._hub: Hub | None = None
        self._workload: WorkloadApi | None = None
        self._agent: Agent | None = None
        self._control: ControlApi | None = None
        self._metrics_server: MetricsServer | None = None
        self._certs: CertBundle | None = None
        self._agent_methods: AgentMethods | None = None
        self.agent_metrics: AgentMetrics | None = None
        self.devices = DeviceRegistry(self.state_dir / "devices.json")
        self.metrics_url = ""
        self._docker: DockerLauncher | None = None  # --runtime docker: removes its containers at stop
        self.control_url = ""
        self.started_at = 0.0

    # ---- parts -------------------------------------------------------------------------
    @property
    def hub(self) -> Hub:
        if self._hub is None:
            raise SimulatorError("the simulator is not running")
        return self._hub

    @property
    def agent(self) -> Agent:
        if self._agent is None:
            raise SimulatorError("the simulator is not running")
        return self._agent

    @property
    def module_names(self) -> tuple[str, ...]:
        return self.deployment.module_names

    def running_modules(self) -> list[str]:
        """The modules the deployment wants running (``status: running``)."""
        return [spec.name for spec in self.deployment.modules if spec.status.value == "running"]

    def device_names(self) -> list[str]:
        return self.devices.names()

    def require_module(self, name: str) -> None:
        if name not in self.deployment.module_names:
            raise UnknownModuleError(
                f"no module {name!r} in the deployment (modules: {', '.join(self.deployment.module_names) or 'none'})"
            )

    # ---- lifecycle ---------------------------------------------------------------------
    def _socket_path(self) -> Path:
        path = self.state_dir / "run" / "workload.sock"
        if len(str(path).encode()) <= 100:
            return path
        # unix socket paths are limited to 108 bytes; a deep state dir gets a private temp dir.
        self._socket_tmp = Path(tempfile.mkdtemp(prefix="edgesim-"))
        return self._socket_tmp / "workload.sock"

    def _module_env(self, name: str, workload_uri: str) -> dict[str, str]:
        spec = self.deployment.module(name)
        return {
            **spec.env,
            "IOTEDGE_IOTHUBHOSTNAME": self.config.hub_hostname,
            "IOTEDGE_DEVICEID": self.config.device_id,
            "IOTEDGE_MODULEID": name,
            "IOTEDGE_GATEWAYHOSTNAME": self.config.host,
            "IOTEDGE_MODULEGENERATIONID": self._generation_ids[name],
            "IOTEDGE_WORKLOADURI": workload_uri,
            "IOTEDGE_APIVERSION": self.config.api_version,
            "IOTEDGE_AUTHSCHEME": "sasToken",
        }

    def _launcher(self, socket_dir: Path) -> Launcher:
        if self.config.runtime == "docker":
            self._docker = DockerLauncher.connect(
                socket_dir,
                self.deployment.registry_credentials,
                {spec.name: spec.image_pull_policy for spec in self.deployment.modules},
                instance=str(self.state_dir),
            )
            return self._docker
        return ProcessLauncher(self.config.modules_dir.resolve(), self.config.module_commands)

    async def start(self) -> None:
        """Start every part; returns once modules are launched and sim.json is written."""
        self._lock = lock_state_dir(self.state_dir)
        try:
            await self._start_parts()
        except BaseException:
            await self._stop_parts()
            raise
        self.started_at = time.time()
        self._write_state_file()
        self._started.set()
        log.info("simulator running: hub %s:%d, control %s", self.config.host, self.config.hub_port, self.control_url)

    async def _start_parts(self) -> None:
        certs = ensure_certificates(self.state_dir, [self.config.host], self.config.hub_hostname)
        socket_path = self._socket_path()
        launcher = self._launcher(socket_path.parent)  # fails fast (e.g. no Docker engine)
        from prometheus_client import CollectorRegistry

        from edgesim.hub import Hub, HubConfig  # imported late: setup errors surface without it
        from edgesim.hub.metrics import HubMetrics
        from edgesim.metrics import MetricsServer

        self._certs = certs
        registry = CollectorRegistry()
        instance = secrets.token_hex(16)

        self._workload = WorkloadApi(
            socket_path,
            certs.trust_bundle_pem,
            {name: WorkloadIdentity(self._keys[name], self._generation_ids[name]) for name in self.module_names},
        )
        await self._workload.start()
        if self._docker is not None:
            self._docker.attach_workload(self._workload.serve_module)
        self._hub = Hub(
            HubConfig(
                host=self.config.host,
                hub_hostname=self.config.hub_hostname,
                device_id=self.config.device_id,
                identities=dict(self._keys),
                certfile=certs.server_cert,
                keyfile=certs.server_key,
                state_dir=self.state_dir / "hub",
                routes=self.deployment.routes,
                store_ttl_secs=self.deployment.store_ttl_secs,
                initial_desired=self.deployment.desired,
                port=self.config.hub_port,
                devices=self.devices.keys(),
                gateway_port=self.config.gateway_port,
                store_max_bytes=self.deployment.store_max_bytes,
            ),
            metrics=HubMetrics(self.config.hub_hostname, self.config.device_id, registry, instance),
        )
        try:
            await self._hub.start()
        except OSError as exc:  # typically: another simulator already listens on this address
            raise SimulatorError(
                f"cannot start the hub on {self.config.host}:{self.config.hub_port}: "
                f"{exc.strerror or exc} (use another --host 127.x.y.z)"
            ) from None
        await self._report_runtime()
        # The control API has no authentication, so it never leaves loopback, whatever --host is.
        control_host = self.config.host if is_loopback(self.config.host) else "127.0.0.1"
        self._control = ControlApi(self, control_host)
        port = await self._control.start(self.config.control_port)
        self.control_url = f"http://{control_host}:{port}"
        runs = [
            ModuleRun(
                name=spec.name,
                env=self._module_env(spec.name, self._workload.uri),
                status=spec.status,
                restart_policy=spec.restart_policy,
                startup_order=spec.startup_order,
                image=spec.image,
                create_options=spec.create_options,
            )
            for spec in self.deployment.modules
        ]
        self.agent_metrics = AgentMetrics(
            self.config.hub_hostname,
            self.config.device_id,
            {spec.name: spec.version for spec in self.deployment.modules},
            registry,
            instance,
        )
        for spec in self.deployment.modules:
            if spec.status.value == "running":
                self.agent_metrics.expect_running(spec.name)
        self._metrics_server = MetricsServer(registry, [self._hub.refresh_metrics, self.agent_metrics.refresh])
        metrics_port = await self._metrics_server.start(control_host, self.config.metrics_port)
        self.metrics_url = f"http://{control_host}:{metrics_port}/metrics"
        self._agent = Agent(
            runs,
            launcher,
            self.state_dir / "logs",
            backoff=self.config.backoff,
            reporter=self._report_module,
            stop_grace_secs=self.config.stop_grace_secs,
        )
        self._agent_methods = AgentMethods(
            self._agent,
            self.config.hub_hostname,
            self.config.device_id,
            self.status,
            on_call=self.agent_metrics.method_called,
        )
        self._hub.system_methods = self._agent_methods.handle
        await self._agent.start()

    async def stop(self) -> None:
        """Stop modules, then the hub and the APIs; state (twins, stored messages) stays on disk."""
        if self._stopped.is_set():
            return
        await self._stop_parts()
        self._stopped.set()

    async def _stop_parts(self) -> None:
        # Modules first, so they do not churn on a vanished hub; the hub still records their exit.
        # Each part is forgotten once stopped, so a second call (run() after a failed start) is a no-op.
        methods, self._agent_methods = self._agent_methods, None
        if methods is not None:
            await methods.stop()
        agent, self._agent = self._agent, None
        if agent is not None:
            await agent.stop()
        metrics_server, self._metrics_server = self._metrics_server, None
        if metrics_server is not None:
            await metrics_server.stop()
        docker, self._docker = self._docker, None
        if docker is not None:
            await docker.close()
        hub, self._hub = self._hub, None
        if hub is not None:
            await hub.stop()
        workload, self._workload = self._workload, None
        if workload is not None:
            await workload.stop()
        control, self._control = self._control, None
        if control is not None:
            await control.stop()
        if self._socket_tmp is not None:
            shutil.rmtree(self._socket_tmp, ignore_errors=True)
            self._socket_tmp = None
        if self._lock is not None:
            remove_state(self.state_dir)
            self._lock.close()
            self._lock = None

    def request_stop(self) -> None:
        """Ask ``run()`` to stop (from a signal handler or the control API)."""
        self._stop_requested.set()

    async def wait_started(self) -> None:
        """Returns once ``start()`` has finished (sim.json written)."""
        await self._started.wait()

    async def wait_stop_requested(self) -> None:
        await self._stop_requested.wait()

    async def run(self, handle_signals: bool = True) -> None:
        """Start, run until SIGINT/SIGTERM or a stop request, then stop cleanly."""
        loop = asyncio.get_running_loop()
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_stop)
        try:
            await self.start()
            await self._stop_requested.wait()
        finally:
            await self.stop()
            if handle_signals:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)

    def _write_state_file(self) -> None:
        write_state(
            self.state_dir,
            SimulatorState(
                control_url=self.control_url,
                pid=os.getpid(),
                host=self.config.host,
                hub_port=self.config.hub_port,
                hub_hostname=self.config.hub_hostname,
                device_id=self.config.device_id,
                manifest=str(self.config.manifest.resolve()),
                started_at=self.started_at,
                metrics_url=self.metrics_url,
                gateway_port=self.gateway_port,
            ),
        )

    # ---- reported runtime state -------------------------------------------------------------
    async def _report_runtime(self) -> None:
        agent_version = version_of(self.hub.get_twin("$edgeAgent")["desired"])
        await self.hub.patch_reported(
            "$edgeAgent", agent_runtime_reported(self.deployment, self.config.runtime, agent_version)
        )
        hub_version = version_of(self.hub.get_twin("$edgeHub")["desired"])
        await self.hub.patch_reported("$edgeHub", hub_runtime_reported(self.deployment, hub_version))

    async def _report_module(self, state: ModuleState) -> None:
        reported = module_reported(self.deployment.module(state.name), state)
        await self.hub.patch_reported("$edgeAgent", {"modules": {state.name: reported}})
        if self.agent_metrics is not None:
            self.agent_metrics.observe(state)

    # ---- what the control API and edgesim.testing use -----------------------------------------
    def status(self) -> SimulatorStatus:
        connected = self.hub.connected_modules()
        modules: dict[str, dict[str, object]] = {}
        for name, state in self.agent.states().items():
            spec = self.deployment.module(name)
            modules[name] = {
                **state.to_json(),
                "connected": name in connected,
                "status": spec.status.value,
                "restartPolicy": spec.restart_policy.value,
                "startupOrder": spec.startup_order,
            }
            if self._docker is not None:
                modules[name]["container"] = self._docker.container_states.get(name)
        forwarding: ForwardingState = self.hub.forwarding.state()
        return {
            "pid": os.getpid(),
            "host": self.config.host,
            "hub_port": self.config.hub_port,
            "hub_hostname": self.config.hub_hostname,
            "device_id": self.config.device_id,
            "runtime": self.config.runtime,
            "control_url": self.control_url,
            "manifest": str(self.config.manifest),
            "started_at": self.started_at,
            "uptime_secs": round(time.time() - self.started_at, 3),
            "modules": modules,
            "hub": self.hub.stats(),
            "metrics_url": self.metrics_url,
            "gateway_port": self.gateway_port,
            "gateway_error": self.hub.gateway_error,
            "devices": {name: {"connected": name in self.hub.connected_devices()} for name in self.devices.names()},
            "upstream": forwarding["upstream"],
            "store": forwarding["store"],
        }

    async def send(self, module: str, input_name: str, message: Message) -> None:
        self.require_module(module)
        await self.hub.send_to_input(module, input_name, message)

    @property
    def gateway_port(self) -> int | None:
        """The 443 listener's port, None when it is off (not asked for, or no permission to bind)."""
        if self._hub is None or self._hub.gateway_error is not None:
            return None
        return self.config.gateway_port

    # ---- redeploying (issue #18: edgesim.redeploy does the work) -------------------------------
    async def deploy(self, manifest: Path) -> Plan:
        """Apply a changed manifest to the running deployment, as edgeAgent does; refused whole if it is bad."""
        from edgesim.redeploy import redeploy

        return await redeploy(self, manifest)

    async def restart_module(self, name: str) -> ModuleState:
        """Restart a running module now (RestartModule); returns its state once it runs again."""
        from edgesim.redeploy import restart

        return await restart(self, name)

    # ---- leaf devices ------------------------------------------------------------------------
    def device_info(self, name: str) -> dict[str, str]:
        """What a leaf device needs: its connection string and the CA that signs the gateway's certificate."""
        key = self.devices.key(name)
        if self._certs is None:
            raise SimulatorError("the simulator is not running")
        return {
            "device_id": name,
            "connection_string": f"HostName={self.config.hub_hostname};DeviceId={name};SharedAccessKey={key};"
            f"GatewayHostName={self.config.host}",
            "ca_cert": str(self._certs.ca_cert),
        }

    def add_device(self, name: str) -> dict[str, str]:
        key = self.devices.add(name, {self.config.device_id, *self.module_names})
        self.hub.add_device(name, key)
        return self.device_info(name)

    def remove_device(self, name: str) -> None:
        self.devices.remove(name)
        self.hub.remove_device(name)

    def list_devices(self) -> list[dict[str, str | bool]]:
        connected = self.hub.connected_devices()
        return [{**self.device_info(name), "connected": name in connected} for name in self.devices.names()]

    def log_text(self, module: str, tail: int | None = None) -> str:
        self.require_module(module)
        path = self.agent.log_path(module)
        if not path.exists():
            return ""
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        return "".join(lines[-tail:] if tail else lines)
