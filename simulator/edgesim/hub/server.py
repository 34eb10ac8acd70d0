"""The hub: edgeHub's MQTT gateway for IoT Edge modules, offline.

Each TLS connection authenticates with a SAS token for one module identity and is bound to it:
the identity's topics are interpreted for it alone (inputs, outputs, twin, methods), so no
module can read another's inputs, twin replies or method calls — what a shared broker cannot
do. Output messages follow the deployment's routes into other modules' inputs (through the
durable store) or into ``$upstream``. Sessions outlive connections: subscriptions stay, and
undelivered input messages wait in the store until the module is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgesim import sas
from edgesim.errors import SimulatorError
from edgesim.hub import codec
from edgesim.hub.forwarding import Forwarding
from edgesim.hub.limits import StoreFullError
from edgesim.hub.metrics import HubMetrics
from edgesim.hub.store import HubStore
from edgesim.hub.topics import (
    DESIRED_PATCH_FILTER,
    Identity,
    MethodResponse,
    OutputPublish,
    ReportedPatch,
    Subscription,
    TwinGet,
    allowed_subscription,
    classify_publish,
    desired_patch_topic,
    device_key,
    method_request_topic,
    parse_username,
    twin_response_topic,
)
from edgesim.hub.twins import Twin, TwinPatchError, without_metadata
from edgesim.hub.upstream import UpstreamRecord
from edgesim.message import MAX_MESSAGE_BYTES, Message
from edgesim.routing import ModuleInputSink, Router, UpstreamSink

log = logging.getLogger("edgesim.hub")

CONNECT_TIMEOUT = 10.0
IN_FLIGHT_WINDOW = 64  # unacknowledged input messages per module at once
MAX_PACKET_BYTES = MAX_MESSAGE_BYTES + 64 * 1024  # a message plus its topic and property bag
SYSTEM_IDENTITIES = ("$edgeAgent", "$edgeHub")


class HubError(SimulatorError):
    """The hub could not do what the control side asked."""


class MethodTargetNotFoundError(HubError):
    """The called module or device is unknown, not connected, or does not listen for methods (edgeHub: 404)."""


class MethodTimeoutError(HubError):
    """The called module or device did not answer in time (edgeHub: 504)."""


# edgeAgent's built-in methods: (method name, payload) -> (status, payload). Set by the runtime.
SystemMethodHandler = Callable[[str, Any], Awaitable[tuple[int, Any]]]


@dataclass(frozen=True)
class HubConfig:
    host: str
    hub_hostname: str
    device_id: str
    identities: Mapping[str, str]
    certfile: Path
    keyfile: Path
    state_dir: Path
    routes: Mapping[str, str | Mapping[str, Any]] = field(default_factory=dict)
    store_ttl_secs: int = 7200
    initial_desired: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    port: int = 8883
    devices: Mapping[str, str] = field(default_factory=dict)  # leaf device id -> key
    gateway_port: int | None = None  # HTTPS + MQTT over WebSockets (443 on a device); None: not served
    store_max_bytes: int | None = None  # storeAndForwardConfiguration.storeLimits.maxSizeBytes


@dataclass
class _InFlight:
    seq: int | None  # the store's sequence number for input messages; None for the rest
    message: Message | None = None
    input_name: str = ""
    sent_at: float = 0.0  # time.monotonic() when it went out, for the send duration metric


class Connection:
    """What the MQTT session code needs from a transport; TCP+TLS here, WebSockets in ``gateway``."""

    closed: bool

    def send(self, frame: bytes) -> None:
        raise NotImplementedError

    async def flush(self, force: bool = False) -> None:
        """Wait for the peer to take what was sent: always with ``force``, else only when a lot is queued."""
        raise NotImplementedError

    def is_closed(self) -> bool:
        return self.closed

    def close(self) -> None:
        raise NotImplementedError


class _Connection(Connection):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.closed = False

    def send(self, frame: bytes) -> None:
        if not self.closed:
            self.writer.write(frame)

    async def flush(self, force: bool = False) -> None:
        if not self.closed and (force or self.writer.transport.get_write_buffer_size() > 256 * 1024):
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.writer.close()


class _Session:
    """One per module identity; outlives its connections (clean_session=False)."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.subscriptions: set[Subscription] = set()
        self.connection: Connection | None = None
        self.in_flight: dict[int, _InFlight] = {}
        self.last_sent_seq = 0
        self.next_packet_id = 1
        self.wake = asyncio.Event()
        self.pump: asyncio.Task[None] | None = None

    def packet_id(self) -> int:
        for _ in range(65535):
            candidate = self.next_packet_id
            self.next_packet_id = candidate % 65535 + 1
            if candidate not in self.in_flight:
                return candidate
        raise HubError("no free packet id")


class Hub:
    def __init__(self, config: HubConfig, metrics: HubMetrics | None = None) -> None:
        self.config = config
        self.router = Router.from_manifest(config.routes)
        self.metrics = metrics or HubMetrics(config.hub_hostname, config.device_id)
        self.devices: dict[str, str] = dict(config.devices)  # leaf device id -> key; changed at run time
        self.system_methods: SystemMethodHandler | None = None  # edgeAgent's methods, when the runtime has them
        self.gateway_error: str | None = None  # why the 443 listener is off, when it is
        self._gateway: Any = None  # edgesim.hub.gateway.Gateway, imported only when served
        self._store: HubStore | None = None
        self._forwarding: Forwarding | None = None  # the cloud log, the link to it, the store's limits
        self._server: asyncio.Server | None = None
        self._sessions: dict[str, _Session] = {}
        self._twins: dict[str, Twin] = {}
        # Pending method calls by (module, request id): only the called module's answer resolves one.
        self._methods: dict[tuple[str, str], asyncio.Future[tuple[int, Any]]] = {}
        self._method_counter = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sessions_changed = asyncio.Event()  # set on every connection and SUBSCRIBE
        self._stats: dict[str, int] = dict.fromkeys(
            ("received", "routed", "unrouted", "delivered", "expired", "rejected", "upstream", "auth_failures",
             "protocol_errors", "forbidden"), 0)

    # ---- lifecycle -------------------------------------------------------------------
    @property
    def store(self) -> HubStore:
        if self._store is None:
            raise HubError("the hub is not running")
        return self._store

    async def start(self) -> None:
        self._store = HubStore(self.config.state_dir / "hub.db")
        for module in self.config.identities:
            self._load_twin(module)
        for identity in SYSTEM_IDENTITIES:
            self._load_twin(identity)
        self._forwarding = Forwarding(self._store, self.metrics, self.config.store_max_bytes, self._stats)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.config.certfile, self.config.keyfile)
        self._server = await asyncio.start_server(self._serve, self.config.host, self.config.port, ssl=context,
                                                  reuse_address=True)
        if self.config.gateway_port is not None:
            from edgesim.hub.gateway import Gateway  # aiohttp is imported only when the listener is wanted

            gateway = Gateway(self, context)
            try:
                await gateway.start(self.config.host, self.config.gateway_port)
            except PermissionError:
                self.gateway_error = (f"port {self.config.gateway_port} needs root or CAP_NET_BIND_SERVICE: "
                                      "module-to-module methods, methods on leaf devices and MQTT over WebSockets "
                                      "are off")
                log.info("%s", self.gateway_error)  # the CLI prints it once; status shows it
            except OSError as exc:
                # Often a web server on *:443 of a developer's machine: the MQTT side still works, so
                # run without these features and say why, rather than refuse to start.
                self.gateway_error = (f"cannot listen on {self.config.host}:{self.config.gateway_port} "
                                      f"({exc.strerror or exc}; another --host 127.x.y.z avoids it): "
                                      "module-to-module methods, methods on leaf devices and MQTT over "
                                      "WebSockets are off")
                log.info("%s", self.gateway_error)
            else:
                self._gateway = gateway
        self._spawn(self._expiry_loop())
        for loop in self._forwarding.loops():
            self._spawn(loop)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        gateway, self._gateway = self._gateway, None
        if gateway is not None:
            await gateway.stop()
        for session in self._sessions.values():
            if session.connection is not None:
                session.connection.close()
            if session.pump is not None:
                session.pump.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
        for future in self._methods.values():
            if not future.done():
                future.set_result((504, {"message": "the hub stopped"}))
        if self._store is not None:
            self._store.close()
            self._store = None
            self._forwarding = None

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- twins -----------------------------------------------------------------------
    def _load_twin(self, module: str) -> Twin:
        stored = self.store.load_twin(module)
        twin = Twin(*stored) if stored else Twin()
        initial = self.config.initial_desired.get(module)
        if initial is not None and without_metadata(twin.desired) != without_metadata(initial):
            twin.replace_desired(without_metadata(initial))  # a (re)deployment sets the desired properties
        self._twins[module] = twin
        self.store.save_twin(module, twin.desired, twin.reported)
        return twin

    def _known(self, key: str) -> bool:
        """A module of the deployment, or a registered leaf device (keyed ``devices/{id}``)."""
        if key.startswith("devices/"):
            return key.removeprefix("devices/") in self.devices
        return key in self.config.identities

    def _twin(self, module: str) -> Twin:
        if module not in self._twins:
            if not self._known(module) and module not in SYSTEM_IDENTITIES:
                raise HubError(f"no module named {module!r} in this deployment")
            return self._load_twin(module)
        return self._twins[module]

    # ---- leaf devices ------------------------------------------------------------------
    def add_device(self, device_id: str, key: str) -> None:
        self.devices[device_id] = key

    def remove_device(self, device_id: str) -> None:
        """Forget the device: its connection closes, its twin and queued messages are deleted."""
        self.devices.pop(device_id, None)
        key = device_key(device_id)
        session = self._sessions.pop(key, None)
        if session is not None:
            self._drop(session)
        self._twins.pop(key, None)
        self.store.forget(key)

    async def send_to_device(self, device_id: str, message: Message, ttl_secs: float) -> None:
        """A cloud-to-device message: queued durably until the device takes it or the TTL ends."""
        if device_id not in self.devices:
            raise HubError(f"no device named {device_id!r}")
        if len(message.body) > MAX_MESSAGE_BYTES:
            raise HubError(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
        self.forwarding.guarded(message, lambda: self._deliver(device_key(device_id), "", message, ttl_secs))

    def get_twin(self, module_id: str) -> dict[str, Any]:
        return self._twin(module_id).document()

    async def patch_desired(self, module_id: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        if module_id in SYSTEM_IDENTITIES:
            raise HubError(f"{module_id}'s twin is managed by the simulator")
        twin = self._twin(module_id)
        try:
            version = twin.patch_desired(patch)
        except TwinPatchError as exc:
            raise HubError(f"desired properties of {module_id!r} refused: {exc}") from None
        self.store.save_twin(module_id, twin.desired, twin.reported)
        session = self._sessions.get(module_id)
        if session and session.connection and "desired_patches" in session.subscriptions:
            body = {**without_metadata(patch), "$version": version}
            self._publish(session, desired_patch_topic(version), json.dumps(body).encode())
        return twin.document()

    async def patch_reported(self, identity: str, patch: Mapping[str, Any]) -> None:
        twin = self._twin(identity)
        twin.patch_reported(patch)
        self.store.save_twin(identity, twin.desired, twin.reported)

    # ---- control-side messaging --------------------------------------------------------
    async def send_to_input(self, module_id: str, input_name: str, message: Message) -> None:
        if module_id not in self.config.identities:
            raise HubError(f"no module named {module_id!r} in this deployment")
        if len(message.body) > MAX_MESSAGE_BYTES:
            raise HubError(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
        ttl = self.config.store_ttl_secs
        self.forwarding.guarded(message, lambda: self._deliver(module_id, input_name, message, ttl))

    async def invoke_method(self, module_id: str, method_name: str, payload: Any, timeout: float) -> tuple[int, Any]:
        """The control side's call (``sim invoke``): the callee's (status, payload), or 404 / 504 as edgeHub."""
        try:
            # A module that is (re)starting connects first and subscribes when its handler is set:
            # give it a moment rather than failing a call made right after start.
            return await self.call_method(module_id, method_name, payload, timeout, connect_timeout=min(timeout, 5.0))
        except MethodTargetNotFoundError as exc:
            return 404, {"message": str(exc)}
        except MethodTimeoutError as exc:
            return 504, {"message": str(exc)}

    async def call_method(self, target: str, method_name: str, payload: Any, timeout: float,
                          connect_timeout: float = 0.0, caller: str = "$control") -> tuple[int, Any]:
        """Call a method on a module (by name), a leaf device (``devices/{id}``) or ``$edgeAgent``.

        Raises ``MethodTargetNotFoundError`` when the target does not listen for methods within
        ``connect_timeout`` and ``MethodTimeoutError`` when it does not answer within ``timeout``.
        """
        with self.metrics.direct_method(caller, target):
            if target == "$edgeAgent" and self.system_methods is not None:
                return await self.system_methods(method_name, payload)
            if not self._known(target):
                raise MethodTargetNotFoundError(f"no module or device named {target!r}")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + connect_timeout
            while not self._listens_for_methods(target) and loop.time() < deadline:
                self._sessions_changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._sessions_changed.wait(), deadline - loop.time())
            session = self._sessions.get(target)
            if session is None or session.connection is None or "methods" not in session.subscriptions:
                raise MethodTargetNotFoundError(f"{target!r} is not connected or does not listen for methods")
            self._method_counter += 1
            rid = str(self._method_counter)
            future: asyncio.Future[tuple[int, Any]] = asyncio.get_running_loop().create_future()
            self._methods[(target, rid)] = future
            try:
                self._publish(session, method_request_topic(method_name, rid), json.dumps(payload).encode())
                return await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise MethodTimeoutError(f"{target!r} did not answer {method_name!r} within {timeout:g} s") from None
            finally:
                self._methods.pop((target, rid), None)

    def _listens_for_methods(self, module_id: str) -> bool:
        session = self._sessions.get(module_id)
        return session is not None and session.connection is not None and "methods" in session.subscriptions

    def upstream_since(self, seq: int = 0) -> list[UpstreamRecord]:
        return self.forwarding.cloud.since(seq)

    async def wait_upstream(self, seq: int, timeout: float) -> list[UpstreamRecord]:
        return await self.forwarding.cloud.wait(seq, timeout)

    def connected_modules(self) -> frozenset[str]:
        return frozenset(m for m, s in self._sessions.items()
                         if s.connection is not None and not s.identity.is_device)

    def connected_devices(self) -> frozenset[str]:
        return frozenset(s.identity.device_id for s in self._sessions.values()
                         if s.connection is not None and s.identity.is_device)

    def refresh_metrics(self) -> None:
        """edgehub_queue_length per endpoint, from the store: called before each scrape."""
        self.metrics.queue_length.clear()
        for key, count in self.store.pending_by_module().items():
            endpoint = key if key.startswith("devices/") else f"{self.config.device_id}/{key}"
            self.metrics.queue_length.labels(**self.metrics.common, endpoint=endpoint, priority="2000000000").set(count)
        self.forwarding.link.refresh_metrics()

    def stats(self) -> dict[str, int]:
        stats = dict(self._stats)
        stats["stored"] = self.store.pending_count() if self._store else 0
        stats["connected"] = len(self.connected_modules())
        stats["connected_devices"] = len(self.connected_devices())
        if self._forwarding is not None:
            stats.update(self._forwarding.stats())
        return stats

    # ---- routing and delivery ----------------------------------------------------------
    def _deliver(self, module: str, input_name: str, message: Message, ttl: float) -> None:
        self.store.enqueue(module, input_name, message, ttl)
        session = self._sessions.get(module)
        if session is not None:
            session.wake.set()

    def _route(self, message: Message) -> None:
        matches = self.router.match(message)
        if not matches:
            self._stats["unrouted"] += 1
            return
        self._stats["routed"] += 1
        for match in matches:
            if isinstance(match.sink, UpstreamSink):
                self.forwarding.link.accept(message, match.ttl_secs or self.config.store_ttl_secs)
            elif isinstance(match.sink, ModuleInputSink):
                if match.sink.module not in self.config.identities:
                    self._stats["unrouted"] += 1
                    continue
                self._deliver(match.sink.module, match.sink.input, message,
                              match.ttl_secs or self.config.store_ttl_secs)

    @property
    def forwarding(self) -> Forwarding:
        """The cloud log (``.cloud``), the link to it (``.link``) and the store's limits (``.limits``)."""
        if self._forwarding is None:
            raise HubError("the hub is not running")
        return self._forwarding

    async def _pump(self, session: _Session) -> None:
        """Deliver the module's stored input messages, in order, keeping a window in flight."""
        module = session.identity.key
        while True:
            await session.wake.wait()
            session.wake.clear()
            connection = session.connection
            if connection is None or "inputs" not in session.subscriptions:
                continue
            room = IN_FLIGHT_WINDOW - sum(1 for f in session.in_flight.values() if f.seq is not None)
            if room <= 0:
                continue
            now = time.time()
            for stored in self.store.pending(module, session.last_sent_seq, room):
                session.last_sent_seq = stored.seq
                if stored.expires <= now:
                    self.store.delete(stored.seq)
                    self._stats["expired"] += 1
                    self.store.add_counter("expired", 1)
                    self.metrics.message_dropped(stored.message, "ttl_expiry")
                    session.wake.set()  # its slot stays free: read on, or a queue behind it would wait
                    continue
                system = dict(stored.message.system_properties)
                topic = session.identity.input_topic(stored.input, system, stored.message.properties)
                packet_id = session.packet_id()
                session.in_flight[packet_id] = _InFlight(stored.seq, stored.message, stored.input, time.monotonic())
                connection.send(codec.encode_publish(topic, stored.message.body, qos=1, packet_id=packet_id))
            await connection.flush()

    async def _expiry_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)  # a periodic sweep, not synchronisation
            try:
                expired = self.store.expire(time.time())
            except sqlite3.Error as exc:  # a full disk: sweep again next time
                log.warning("expiry sweep failed: %s", exc)
                continue
            if expired:
                self._stats["expired"] += expired
                self.store.add_counter("expired", expired)
                self.metrics.messages_dropped_unknown(expired, "ttl_expiry")

    # ---- connections -------------------------------------------------------------------
    def _publish(self, session: _Session, topic: str, payload: bytes) -> None:
        if session.connection is None:
            return
        packet_id = session.packet_id()
        session.in_flight[packet_id] = _InFlight(None)
        session.connection.send(codec.encode_publish(topic, payload, qos=1, packet_id=packet_id))

    def _authenticate(self, connect: codec.Connect) -> tuple[Identity | None, int]:
        parsed = parse_username(connect.username or "")
        if parsed is None or connect.password is None:
            return None, codec.REFUSED_BAD_CREDENTIALS
        _, device, module = parsed
        if module is None:
            # A leaf device: client id = device id, a registered device other than the edge device itself.
            if connect.client_id != device or device == self.config.device_id:
                return None, codec.REFUSED_IDENTIFIER
            key = self.devices.get(device)
            resource = f"{self.config.hub_hostname}/devices/{device}"
        else:
            if device != self.config.device_id or connect.client_id != f"{device}/{module}":
                return None, codec.REFUSED_IDENTIFIER
            key = self.config.identities.get(module)
            resource = sas.module_resource_uri(self.config.hub_hostname, device, module)
        if key is None:
            return None, codec.REFUSED_NOT_AUTHORIZED
        try:
            sas.verify_token(connect.password.decode("utf-8", errors="replace"), resource, key)
        except sas.SasTokenError as exc:
            log.warning("refused %s: %s", connect.client_id, exc)
            return None, codec.REFUSED_NOT_AUTHORIZED
        return Identity(device, module), codec.ACCEPTED

    def verify_module_token(self, client: str, token: str) -> str:
        """For HTTPS callers: ``client`` is ``x-ms-edge-moduleId`` (``{device}/{module}``), ``token``
        the ``Authorization`` SAS token; returns the module or raises ``HubError`` saying why not."""
        device, _, module = client.partition("/")
        if not device or not module or "/" in module:
            raise HubError("x-ms-edge-moduleId must be {deviceId}/{moduleId}")
        if device != self.config.device_id:
            raise HubError("Only modules on the same device can invoke DirectMethods")
        key = self.config.identities.get(module)
        if key is None:
            raise HubError(f"no module named {module!r} in this deployment")
        try:
            sas.verify_token(token, sas.module_resource_uri(self.config.hub_hostname, device, module), key)
        except sas.SasTokenError as exc:
            raise HubError(f"the SAS token is not valid for {client}: {exc}") from None
        return module

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.serve_mqtt(_Connection(reader, writer), lambda: reader.read(65536))

    async def serve_mqtt(self, connection: Connection, read: Callable[[], Awaitable[bytes]]) -> None:
        """One MQTT connection, whatever carries it (TLS on 8883, or a WebSocket on 443);
        ``read()`` returns the next bytes, ``b""`` at the end."""
        decoder = codec.Decoder(MAX_PACKET_BYTES)
        session: _Session | None = None
        try:
            packets: list[codec.Packet] = []
            async with asyncio.timeout(CONNECT_TIMEOUT):
                while not packets:
                    data = await read()
                    if not data:
                        return
                    packets = decoder.feed(data)
            first, rest = packets[0], packets[1:]
            if not isinstance(first, codec.Connect):
                raise codec.ProtocolError("the first packet must be CONNECT")
            identity, code = self._authenticate(first)
            if identity is None:
                self._stats["auth_failures"] += 1
                self.metrics.connect_failed(first.client_id, "not_authorized")
                connection.send(codec.encode_connack(False, code))
                await connection.flush(force=True)
                return
            key = identity.key
            session = self._sessions.get(key)
            present = session is not None and not first.clean_session
            if session is None or first.clean_session:
                session = _Session(identity)
                old = self._sessions.get(key)
                if old is not None:
                    self._drop(old)
                self._sessions[key] = session
            elif session.connection is not None:
                session.connection.close()  # a new connection for the identity takes over
            session.connection = connection
            session.in_flight.clear()
            session.last_sent_seq = 0
            connection.send(codec.encode_connack(present, codec.ACCEPTED))
            self._sessions_changed.set()
            if session.pump is None or session.pump.done():
                session.pump = self._spawn(self._pump(session))
            session.wake.set()
            self.metrics.connected_clients.set(len(self.connected_modules()) + len(self.connected_devices()))
            keepalive = first.keepalive * 1.5 if first.keepalive else None
            for packet in rest:
                self._handle(session, packet)
            while not connection.closed:
                data = await asyncio.wait_for(read(), keepalive) if keepalive else await read()
                if not data:
                    break
                for packet in decoder.feed(data):
                    self._handle(session, packet)
                    if connection.is_closed():
                        break
                await connection.flush()
        except codec.ProtocolError as exc:
            self._stats["protocol_errors"] += 1
            log.warning("protocol error from %s: %s", session.identity.key if session else "a client", exc)
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError, asyncio.IncompleteReadError):
            pass
        except sqlite3.Error as exc:  # e.g. a PUBACK's delete on a full disk: this connection ends, not the hub
            log.warning("store error on %s's connection: %s", session.identity.key if session else "a client", exc)
        finally:
            connection.close()
            if session is not None and session.connection is connection:
                session.connection = None
                session.in_flight.clear()
            self.metrics.connected_clients.set(len(self.connected_modules()) + len(self.connected_devices()))

    def _drop(self, session: _Session) -> None:
        if session.connection is not None:
            session.connection.close()
        if session.pump is not None:
            session.pump.cancel()

    def _handle(self, session: _Session, packet: codec.Packet) -> None:
        connection = session.connection
        assert connection is not None
        if isinstance(packet, codec.Publish):
            self._on_publish(session, connection, packet)
        elif isinstance(packet, codec.PacketId) and packet.kind == codec.PUBACK:
            in_flight = session.in_flight.pop(packet.packet_id, None)
            if in_flight is not None and in_flight.seq is not None:
                self.store.delete(in_flight.seq)
                self._stats["delivered"] += 1
                if in_flight.message is not None:
                    self.metrics.message_sent(in_flight.message, session.identity.key, in_flight.input_name,
                                              time.monotonic() - in_flight.sent_at)
                session.wake.set()
        elif isinstance(packet, codec.Subscribe):
            codes = []
            for topic_filter, qos in packet.filters:
                stream = allowed_subscription(session.identity, topic_filter)
                if stream is None:
                    self._stats["forbidden"] += 1
                    log.warning("%s may not subscribe to %r", session.identity.key, topic_filter)
                    codes.append(codec.SUBACK_FAILURE)
                else:
                    session.subscriptions.add(stream)
                    codes.append(min(qos, 1))
            connection.send(codec.encode_suback(packet.packet_id, codes))
            session.wake.set()
            self._sessions_changed.set()
        elif isinstance(packet, codec.Unsubscribe):
            for topic_filter in packet.filters:
                stream = allowed_subscription(session.identity, topic_filter)
                if stream is not None:
                    session.subscriptions.discard(stream)
            connection.send(codec.encode_unsuback(packet.packet_id))
        elif isinstance(packet, codec.Simple) and packet.kind == codec.PINGREQ:
            connection.send(codec.encode_pingresp())
        elif isinstance(packet, codec.Simple) and packet.kind == codec.DISCONNECT:
            connection.close()
        elif isinstance(packet, codec.Connect):
            raise codec.ProtocolError("a second CONNECT")
        else:
            raise codec.ProtocolError(f"unexpected packet {type(packet).__name__}")

    def _on_publish(self, session: _Session, connection: Connection, packet: codec.Publish) -> None:
        if packet.qos == 2:
            raise codec.ProtocolError("QoS 2 is not supported by IoT Hub")
        identity = session.identity
        kind = classify_publish(identity, packet.topic)
        if kind is None:
            self._stats["forbidden"] += 1
            log.warning("%s may not publish to %r; closing its connection", identity.key, packet.topic)
            connection.close()
            return
        if isinstance(kind, OutputPublish):
            if len(packet.payload) > MAX_MESSAGE_BYTES:
                # IoT Hub closes the connection of a device that sends more than 256 KB.
                self._stats["rejected"] += 1
                log.warning("%s sent %d bytes, over the %d limit", identity.key, len(packet.payload),
                            MAX_MESSAGE_BYTES)
                connection.close()
                return
            self._stats["received"] += 1
            system = dict(kind.system)
            # The sender is who authenticated, never what its property bag claims (as edgeHub sets them).
            system.pop("connectionModuleId", None)
            system["connectionDeviceId"] = identity.device_id
            if identity.module_id is not None:
                system["connectionModuleId"] = identity.module_id  # a leaf device's messages have none
            system["enqueuedTime"] = _now_iso()
            message = Message(packet.payload, dict(kind.application), system)
            self.metrics.message_received(message, identity.key, len(packet.payload))
            try:
                self.forwarding.guarded(message, lambda: self._route(message))
            except StoreFullError as exc:
                # edgeHub's MQTT head shuts the channel when a publish fails: no PUBACK, so the
                # sender still holds the message (paho resends it after reconnecting, or the SDK
                # reports the failure): refused, never silently dropped.
                log.warning("refused a message from %s: %s; closing its connection", identity.key, exc)
                connection.close()
                return
        elif isinstance(kind, TwinGet):
            twin = self._twin(identity.key)
            self.metrics.gettwin(identity.key)
            self._publish(session, twin_response_topic(200, kind.rid), json.dumps(twin.document()).encode())
        elif isinstance(kind, ReportedPatch):
            twin = self._twin(identity.key)
            self.metrics.reported_properties(identity.key)
            try:
                patch = json.loads(packet.payload or b"{}")
                if not isinstance(patch, dict):
                    raise ValueError("not an object")
                version = twin.patch_reported(patch)  # checks the depth before it changes anything
            except TwinPatchError as exc:
                self._publish(session, twin_response_topic(400, kind.rid), json.dumps({"message": str(exc)}).encode())
            except (ValueError, RecursionError):
                self._publish(session, twin_response_topic(400, kind.rid), b'{"message": "invalid JSON"}')
            else:
                self.store.save_twin(identity.key, twin.desired, twin.reported)
                self._publish(session, twin_response_topic(204, kind.rid, version), b"")
        elif isinstance(kind, MethodResponse):
            # A response for a call to another module (or a guessed id) is ignored, as IoT Hub does.
            future = self._methods.get((identity.key, kind.rid))
            if future is not None and not future.done():
                try:
                    payload: Any = json.loads(packet.payload) if packet.payload else None
                except (ValueError, RecursionError):
                    payload = packet.payload.decode("utf-8", errors="replace")
                future.set_result((kind.status, payload))
        if packet.qos == 1 and packet.packet_id is not None and not connection.closed:
            connection.send(codec.encode_puback(packet.packet_id))


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


__all__ = ["DESIRED_PATCH_FILTER", "Connection", "Hub", "HubConfig", "HubError", "MethodTargetNotFoundError",
           "MethodTimeoutError", "UpstreamRecord"]
