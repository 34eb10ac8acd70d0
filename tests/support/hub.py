"""The hub on a background event loop, and real SDK modules (``programs/``) as separate processes."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

from edgesim import sas
from edgesim.certs import ensure_certificates
from edgesim.hub import Hub, HubConfig

T = TypeVar("T")
PROGRAMS = Path(__file__).resolve().parent / "programs"
PEER = PROGRAMS / "peer.py"
EDGE_PEER = PROGRAMS / "edgepeer.py"
RETRY_PEER = PROGRAMS / "retrypeer.py"
HUB_HOSTNAME = "edgesim-test.azure-devices.net"
DEVICE = "testdevice"
_addresses = itertools.count(1)


def next_address() -> str:
    # A distinct loopback address per hub: the SDK always dials port 8883.
    return f"127.0.{40 + os.getpid() % 150}.{next(_addresses) % 250 + 1}"


class HubThread:
    def __init__(
        self,
        state_dir: Path,
        modules: list[str],
        routes: dict[str, Any],
        desired: dict[str, dict[str, Any]] | None = None,
        host: str | None = None,
        keys: dict[str, str] | None = None,
        store_ttl_secs: int = 7200,
        gateway_port: int | None = None,
        devices: dict[str, str] | None = None,
    ) -> None:
        self.host = host or next_address()
        self.state_dir = state_dir
        self.keys = keys or {module: sas.generate_key() for module in modules}
        self.certs = ensure_certificates(state_dir, [self.host], HUB_HOSTNAME)
        self.config = HubConfig(
            host=self.host,
            hub_hostname=HUB_HOSTNAME,
            device_id=DEVICE,
            identities=self.keys,
            certfile=self.certs.server_cert,
            keyfile=self.certs.server_key,
            state_dir=state_dir / "hub",
            routes=routes,
            store_ttl_secs=store_ttl_secs,
            initial_desired=desired or {},
            gateway_port=gateway_port,
            devices=devices or {},
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.hub = Hub(self.config)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run(self, fn: Callable[[], T]) -> T:
        async def wrapper() -> T:
            return fn()

        return self.call(wrapper())

    def start(self) -> Self:
        self.thread.start()
        self.call(self.hub.start())
        return self

    def stop(self) -> None:
        self.call(self.hub.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def connection_string(self, module: str, key: str | None = None) -> str:
        return (
            f"HostName={HUB_HOSTNAME};DeviceId={DEVICE};ModuleId={module};"
            f"SharedAccessKey={key or self.keys[module]};GatewayHostName={self.host}"
        )

    def device_connection_string(self, device: str, key: str | None = None) -> str:
        return (
            f"HostName={HUB_HOSTNAME};DeviceId={device};SharedAccessKey={key or self.hub.devices[device]};"
            f"GatewayHostName={self.host}"
        )

    def invoke(self, module: str, method: str, payload: Any, timeout: float) -> tuple[int, Any]:
        """A direct method call from the control side: (status, the answer as JSON to read by key)."""
        return self.call(self.hub.invoke_method(module, method, payload, timeout))

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 20) -> None:
        async def poll() -> None:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await asyncio.sleep(0.01)  # polled on the hub's own loop, bounded by the timeout

        self.call(poll(), timeout + 5)


def hub_session(hub: Hub, key: str) -> Any:
    """The hub's session of an identity (``None`` before it first connects): ``.connection``, ``.subscriptions``."""
    return hub.session(key)


def json_twin(hub: Hub, key: str) -> Any:
    """The twin document (``{"desired", "reported"}``), to read by key in a test (run it on the hub's loop)."""
    return hub.get_twin(key)


def listens_for_methods(hub: Hub, key: str) -> bool:
    """The identity is connected and subscribed to direct methods (a call to it would be delivered)."""
    return hub.listens_for_methods(key)


SENTIMENT_MODULE = Path(__file__).resolve().parents[2] / "modules" / "sentiment"


@contextmanager
def sentiment_module(
    hub: HubThread, model_dir: Path, work_dir: Path, *, module_id: str = "sentiment", **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """The real sentiment module (``main.py``) connected to ``hub`` with the SDK's edge fallback.

    ``EdgeHubConnectionString`` + ``EdgeModuleCACertificateFile`` are what
    ``create_from_edge_environment()`` reads when the workload-API variables are absent. Its
    output goes to ``work_dir/sentiment.log``; a module that exits before connecting fails here
    with that log's last line. SIGTERM at the end (SIGKILL after 30 s).
    """
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IOTEDGE_")}
    environment.update(
        EdgeHubConnectionString=hub.connection_string(module_id),
        EdgeModuleCACertificateFile=str(hub.certs.ca_cert),
        MODEL_DIR=str(model_dir.resolve()),
        CAPTURE_DIR=str(work_dir / "capture"),
        REPORT_INTERVAL="3600",
        **env,
    )
    log_path = work_dir / "sentiment.log"
    with log_path.open("wb") as log:
        module = subprocess.Popen(
            [sys.executable, "-u", "main.py"],
            cwd=SENTIMENT_MODULE,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        hub.wait_for(lambda: module_id in hub.hub.connected_modules() or module.poll() is not None, timeout=60)
        if module.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(f"the sentiment module exited with {module.returncode} before connecting: {tail}")
        yield module
    finally:
        if module.poll() is None:
            module.send_signal(signal.SIGTERM)
            try:
                module.wait(30)
            except subprocess.TimeoutExpired:
                module.kill()
                module.wait()


class Peer:
    def __init__(self, hub: HubThread, module: str, key: str | None = None, retry: bool = True) -> None:
        self.module = module
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.backlog: list[dict[str, Any]] = []
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(PEER),
                hub.connection_string(module, key),
                str(hub.certs.ca_cert),
                "retry" if retry else "no-retry",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put(json.loads(line))
        self.events.put({"event": "eof"})

    def expect(self, event: str, timeout: float = 30) -> dict[str, Any]:
        """The next event of this kind; other kinds are kept, in order, for later calls."""
        for index, item in enumerate(self.backlog):
            if item["event"] == event:
                return self.backlog.pop(index)
        while True:
            item = self.events.get(timeout=timeout)
            if item["event"] == event:
                return item
            if item["event"] in ("error", "eof") and event not in ("error", "eof"):
                raise AssertionError(f"{self.module}: expected {event}, got {item}")
            self.backlog.append(item)

    def idle(self) -> bool:
        """Nothing unread (beyond 'sent' acknowledgements)."""
        return self.events.empty() and all(item["event"] == "sent" for item in self.backlog)

    def command(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def send(self, output: str, body: Any, wait: bool = True, **properties: str) -> None:
        self.command(op="send", output=output, body=body, properties=properties)
        if wait:
            self.expect("sent")

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.command(op="exit")
                self.process.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


class EdgePeer(Peer):
    """``edgepeer.py``: a module or a leaf device client, over MQTT (8883) or MQTT over WebSockets (443)."""

    def __init__(self, kind: str, connection_string: str, ca_file: Path, name: str, *flags: str) -> None:
        self.module = name
        self.events = queue.Queue()
        self.backlog = []
        self.process = subprocess.Popen(
            [sys.executable, str(EDGE_PEER), kind, connection_string, str(ca_file), *flags],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()


def module_peer(hub: HubThread, module: str, *flags: str, key: str | None = None) -> EdgePeer:
    return EdgePeer("module", hub.connection_string(module, key), hub.certs.ca_cert, module, *flags)


def device_peer(hub: HubThread, device: str, *flags: str, key: str | None = None) -> EdgePeer:
    return EdgePeer("device", hub.device_connection_string(device, key), hub.certs.ca_cert, device, *flags)
