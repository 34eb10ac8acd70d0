"""The hub: edgeHub's MQTT gateway for IoT Edge modules, offline.

Each TLS connection authenticates with a SAS token for one module identity and is bound to it:
the identity's topics are interpreted for it alone (inputs, outputs, twin, methods), so no
module can read another's inputs, twin replies or method calls — what a shared broker cannot
do. Output messages follow the deployment's routes into other modules' inputs (through the
durable store) or into ``$upstream``. Sessions outlive connections: subscriptions stay, and
undelivered input messages wait in the store until the module is back.

The layers (see README): ``connection`` (bytes <-> packets) -> ``session`` (one identity's state)
-> ``auth`` and ``dialect`` (SAS, twins and methods on ``topics``) -> ``packets`` (a session's packets)
-> this module, which owns the store, routes messages and delivers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from edgesim.errors import HubError, MethodTargetNotFoundError, MethodTimeoutError
from edgesim.hub import codec
from edgesim.hub.auth import authenticate, verify_module_token
from edgesim.hub.config import SYSTEM_IDENTITIES, HubConfig, SystemMethodHandler
from edgesim.hub.connection import MAX_PACKET_BYTES, Connection, PacketReader, StreamConnection
from edgesim.hub.counters import HubCounters, HubStats
from edgesim.hub.dialect import MethodCalls, MethodResult, Twins
from edgesim.hub.forwarding import Forwarding
from edgesim.hub.metrics import HubMetrics
from edgesim.hub.packets import PacketHandler
from edgesim.hub.session import IN_FLIGHT_WINDOW, InFlight, Session, Sessions
from edgesim.hub.store import HubStore
from edgesim.hub.topics import DESIRED_PATCH_FILTER, device_key
from edgesim.hub.twins import Twin, TwinDocument
from edgesim.hub.upstream import UpstreamRecord
from edgesim.jsontypes import JSONLike
from edgesim.message import MAX_MESSAGE_BYTES, Message
from edgesim.routing import ModuleInputSink, Router, UpstreamSink
from edgesim.tasks import spawn

if TYPE_CHECKING:
    from edgesim.hub.gateway import Gateway

log = logging.getLogger("edgesim.hub")


class Hub:
    def __init__(self, config: HubConfig, metrics: HubMetrics | None = None) -> None:
        self.config = config
        self.router = Router.from_manifest(config.routes)
        self.metrics = metrics or HubMetrics(config.hub_hostname, config.device_id)
        self.devices: dict[str, str] = dict(config.devices)  # leaf device id -> key; changed at run time
        self.system_methods: SystemMethodHandler | None = None  # edgeAgent's methods, when the runtime has them
        self.gateway_error: str | None = None  # why the 443 listener is off, when it is
        self.counters = HubCounters()
        self._gateway: Gateway | None = None  # imported only when served
        self._store: HubStore | None = None
        self._twins: Twins | None = None
        self._forwarding: Forwarding | None = None  # the cloud log, the link to it, the store's limits
        self._server: asyncio.Server | None = None
        self._sessions = Sessions()
        self._methods = MethodCalls()
        self._tasks: set[asyncio.Task[None]] = set()
        self._packets = PacketHandler(self, self._sessions, self._methods, self._route)

    # ---- lifecycle -------------------------------------------------------------------
    @property
    def store(self) -> HubStore:
        if self._store is None:
            raise HubError("the hub is not running")
        return self._store

    @property
    def twins(self) -> Twins:
        if self._twins is None:
            raise HubError("the hub is not running")
        return self._twins

    @property
    def forwarding(self) -> Forwarding:
        """The cloud log (``.cloud``), the link to it (``.link``) and the store's limits (``.limits``)."""
        if self._forwarding is None:
            raise HubError("the hub is not running")
        return self._forwarding

    async def start(self) -> None:
        self._store = HubStore(self.config.state_dir / "hub.db")
        self._twins = Twins(self._store, self.config.initial_desired.get, self._known)
        for identity in (*self.config.identities, *SYSTEM_IDENTITIES):
            self._twins.load(identity)
        self._forwarding = Forwarding(self._store, self.metrics, self.config.store_max_bytes, self.counters)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.config.certfile, self.config.keyfile)
        self._server = await asyncio.start_server(
            self._serve, self.config.host, self.config.port, ssl=context, reuse_address=True
        )
        if self.config.gateway_port is not None:
            await self._start_gateway(context, self.config.gateway_port)
        spawn(self._expiry_loop(), "hub:expiry", self._tasks)
        for loop in self._forwarding.loops():
            spawn(loop(), f"hub:{loop.__qualname__}", self._tasks)

    async def _start_gateway(self, context: ssl.SSLContext, port: int) -> None:
        from edgesim.hub.gateway import start_gateway  # aiohttp is imported only when the listener is wanted

        self._gateway, self.gateway_error = await start_gateway(self, context, self.config.host, port)
        if self.gateway_error is not None:
            log.info("%s", self.gateway_error)  # the CLI prints it once; status shows it

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        gateway, self._gateway = self._gateway, None
        if gateway is not None:
            await gateway.stop()
        self._sessions.close_all()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # a crash was logged when it happened
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
        self._methods.stop()
        if self._store is not None:
            self._store.close()
            self._store = None
            self._forwarding = None
            self._twins = None

    # ---- identities --------------------------------------------------------------------
    def _known(self, key: str) -> bool:
        """A module of the deployment, or a registered leaf device (keyed ``devices/{id}``)."""
        if key.startswith("devices/"):
            return key.removeprefix("devices/") in self.devices
        return key in self.config.identities

    def _twin(self, key: str) -> Twin:
        return self.twins.get(key)

    def add_device(self, device_id: str, key: str) -> None:
        self.devices[device_id] = key

    def remove_device(self, device_id: str) -> None:
        """Forget the device: its connection closes, its twin and queued messages are deleted."""
        self.devices.pop(device_id, None)
        key = device_key(device_id)
        self._sessions.pop(key)
        self.twins.forget(key)
        self.store.forget(key)

    def forget_module(self, name: str) -> None:
        """A module the deployment no longer has: its connection closes; its stored twin and queue stay."""
        self._sessions.pop(name)
        self.twins.forget(name)

    def verify_module_token(self, client: str, token: str) -> str:
        """For HTTPS callers: ``client`` is ``x-ms-edge-moduleId`` (``{device}/{module}``), ``token``
        the ``Authorization`` SAS token; returns the module or raises ``HubError`` saying why not."""
        return verify_module_token(
            client, token, self.config.hub_hostname, self.config.device_id, self.config.identities
        )

    # ---- the control side ---------------------------------------------------------------
    async def send_to_device(self, device_id: str, message: Message, ttl_secs: float) -> None:
        """A cloud-to-device message: queued durably until the device takes it or the TTL ends."""
        if device_id not in self.devices:
            raise HubError(f"no device named {device_id!r}")
        if len(message.body) > MAX_MESSAGE_BYTES:
            raise HubError(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
        self.forwarding.guarded(message, lambda: self._deliver(device_key(device_id), "", message, ttl_secs))

    def get_twin(self, module_id: str) -> TwinDocument:
        return self.twins.get(module_id).document()

    async def patch_desired(self, module_id: str, patch: Mapping[str, JSONLike]) -> TwinDocument:
        if module_id in SYSTEM_IDENTITIES:
            raise HubError(f"{module_id}'s twin is managed by the simulator")
        return self.twins.patch_desired(module_id, patch, self._sessions.get(module_id))

    async def patch_reported(self, identity: str, patch: Mapping[str, JSONLike]) -> None:
        self.twins.patch_reported(identity, patch)

    async def send_to_input(self, module_id: str, input_name: str, message: Message) -> None:
        if module_id not in self.config.identities:
            raise HubError(f"no module named {module_id!r} in this deployment")
        if len(message.body) > MAX_MESSAGE_BYTES:
            raise HubError(f"message is larger than {MAX_MESSAGE_BYTES} bytes")
        ttl = self.config.store_ttl_secs
        self.forwarding.guarded(message, lambda: self._deliver(module_id, input_name, message, ttl))

    async def invoke_method(self, module_id: str, method_name: str, payload: JSONLike, timeout: float) -> MethodResult:
        """The control side's call (``sim invoke``): the callee's (status, payload), or 404 / 504 as edgeHub."""
        try:
            # A module that is (re)starting connects first and subscribes when its handler is set:
            # give it a moment rather than failing a call made right after start.
            return await self.call_method(module_id, method_name, payload, timeout, connect_timeout=min(timeout, 5.0))
        except MethodTargetNotFoundError as exc:
            return 404, {"message": str(exc)}
        except MethodTimeoutError as exc:
            return 504, {"message": str(exc)}

    async def call_method(
        self,
        target: str,
        method_name: str,
        payload: JSONLike,
        timeout: float,
        connect_timeout: float = 0.0,
        caller: str = "$control",
    ) -> MethodResult:
        """Call a method on a module (by name), a leaf device (``devices/{id}``) or ``$edgeAgent``.

        Raises ``MethodTargetNotFoundError`` when the target does not listen for methods within
        ``connect_timeout`` and ``MethodTimeoutError`` when it does not answer within ``timeout``.
        """
        with self.metrics.direct_method(caller, target):
            if target == "$edgeAgent" and self.system_methods is not None:
                return await self.system_methods(method_name, payload)
            if not self._known(target):
                raise MethodTargetNotFoundError(f"no module or device named {target!r}")
            await self._sessions.wait_listening(target, "methods", connect_timeout)
            session = self._sessions.get(target)
            if session is None or not session.listens("methods"):
                raise MethodTargetNotFoundError(f"{target!r} is not connected or does not listen for methods")
            return await self._methods.call(session, method_name, payload, timeout)

    def listens_for_methods(self, module_id: str) -> bool:
        """The identity is connected and subscribed to direct methods (a call to it would be delivered)."""
        return self._sessions.listens(module_id, "methods")

    def session(self, identity: str) -> Session | None:
        """The identity's session (``None`` before it first connects): its connection and subscriptions."""
        return self._sessions.get(identity)

    def upstream_since(self, seq: int = 0) -> list[UpstreamRecord]:
        return self.forwarding.cloud.since(seq)

    async def wait_upstream(self, seq: int, timeout: float) -> list[UpstreamRecord]:
        return await self.forwarding.cloud.wait(seq, timeout)

    def connected_modules(self) -> frozenset[str]:
        return self._sessions.connected_modules()

    def connected_devices(self) -> frozenset[str]:
        return self._sessions.connected_devices()

    def refresh_metrics(self) -> None:
        """edgehub_queue_length per endpoint, from the store: called before each scrape."""
        self.metrics.queue_length.clear()
        for key, count in self.store.pending_by_module().items():
            endpoint = key if key.startswith("devices/") else f"{self.config.device_id}/{key}"
            self.metrics.queue_length.labels(**self.metrics.common, endpoint=endpoint, priority="2000000000").set(count)
        self.forwarding.link.refresh_metrics()

    def stats(self) -> HubStats:
        c = self.counters
        stats: HubStats = {
            "received": c.received,
            "routed": c.routed,
            "unrouted": c.unrouted,
            "delivered": c.delivered,
            "expired": c.expired,
            "rejected": c.rejected,
            "upstream": c.upstream,
            "auth_failures": c.auth_failures,
            "protocol_errors": c.protocol_errors,
            "forbidden": c.forbidden,
            "stored": self.store.pending_count() if self._store else 0,
            "connected": len(self.connected_modules()),
            "connected_devices": len(self.connected_devices()),
        }
        if self._forwarding is None:
            return stats
        return {**stats, **self._forwarding.stats()}

    # ---- routing and delivery ----------------------------------------------------------
    def _deliver(self, module: str, input_name: str, message: Message, ttl: float) -> None:
        self.store.enqueue(module, input_name, message, ttl)
        session = self._sessions.get(module)
        if session is not None:
            session.wake.set()

    def _route(self, message: Message) -> None:
        matches = self.router.match(message)
        if not matches:
            self.counters.unrouted += 1
            return
        self.counters.routed += 1
        for match in matches:
            ttl = match.ttl_secs or self.config.store_ttl_secs
            if isinstance(match.sink, UpstreamSink):
                self.forwarding.link.accept(message, ttl)
            elif isinstance(match.sink, ModuleInputSink):
                if match.sink.module not in self.config.identities:
                    self.counters.unrouted += 1
                    continue
                self._deliver(match.sink.module, match.sink.input, message, ttl)

    def _count_expired(self, count: int) -> None:
        self.counters.expired += count
        self.store.add_counter("expired", count)

    async def _pump(self, session: Session) -> None:
        """Deliver the identity's stored input messages, in order, keeping a window in flight."""
        module = session.identity.key
        while True:
            await session.wake.wait()
            session.wake.clear()
            connection = session.connection
            if connection is None or "inputs" not in session.subscriptions:
                continue
            room = session.input_room()
            if room <= 0:
                continue
            now = time.time()
            for stored in self.store.pending(module, session.last_sent_seq, room):
                session.last_sent_seq = stored.seq
                if stored.expires <= now:
                    self.store.delete(stored.seq)
                    self._count_expired(1)
                    self.metrics.message_dropped(stored.message, "ttl_expiry")
                    session.wake.set()  # its slot stays free: read on, or a queue behind it would wait
                    continue
                system = dict(stored.message.system_properties)
                topic = session.identity.input_topic(stored.input, system, stored.message.properties)
                session.publish(
                    topic, stored.message.body, InFlight(stored.seq, stored.message, stored.input, time.monotonic())
                )
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
                self._count_expired(expired)
                self.metrics.messages_dropped_unknown(expired, "ttl_expiry")

    # ---- connections -------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.serve_mqtt(StreamConnection(reader, writer), lambda: reader.read(65536))

    def _connected_count_changed(self) -> None:
        self.metrics.connected_clients.set(len(self.connected_modules()) + len(self.connected_devices()))

    async def serve_mqtt(self, connection: Connection, read: Callable[[], Awaitable[bytes]]) -> None:
        """One MQTT connection, whatever carries it (TLS on 8883, or a WebSocket on 443);
        ``read()`` returns the next bytes, ``b""`` at the end."""
        packets = PacketReader(read, MAX_PACKET_BYTES)
        session: Session | None = None
        try:
            first_packets = await packets.first()
            if not first_packets:
                return
            first, rest = first_packets[0], first_packets[1:]
            if not isinstance(first, codec.Connect):
                raise codec.ProtocolError("the first packet must be CONNECT")
            identity, code = authenticate(
                first, self.config.hub_hostname, self.config.device_id, self.config.identities, self.devices
            )
            if identity is None:
                self.counters.auth_failures += 1
                self.metrics.connect_failed(first.client_id, "not_authorized")
                connection.send(codec.encode_connack(False, code))
                await connection.flush(force=True)
                return
            session, present = self._sessions.open(identity, first.clean_session)
            session.attach(connection)
            connection.send(codec.encode_connack(present, codec.ACCEPTED))
            self._sessions.changed.set()
            if session.pump is None or session.pump.done():
                session.pump = spawn(self._pump(session), f"hub:pump:{identity.key}", self._tasks)
            session.wake.set()
            self._connected_count_changed()
            keepalive = first.keepalive * 1.5 if first.keepalive else None
            for packet in rest:
                self._packets.handle(session, packet)
            while not connection.closed:
                batch = await packets.next(keepalive)
                if batch is None:
                    break
                for packet in batch:
                    self._packets.handle(session, packet)
                    if connection.is_closed():
                        break
                await connection.flush()
        except codec.ProtocolError as exc:
            self.counters.protocol_errors += 1
            log.warning("protocol error from %s: %s", session.identity.key if session else "a client", exc)
        except (TimeoutError, ConnectionError, ssl.SSLError, OSError, asyncio.IncompleteReadError):
            pass
        except sqlite3.Error as exc:  # e.g. a PUBACK's delete on a full disk: this connection ends, not the hub
            log.warning("store error on %s's connection: %s", session.identity.key if session else "a client", exc)
        finally:
            connection.close()
            if session is not None:
                session.detach(connection)
            self._connected_count_changed()


__all__ = [
    "DESIRED_PATCH_FILTER",
    "IN_FLIGHT_WINDOW",
    "MAX_PACKET_BYTES",
    "Connection",
    "Hub",
    "HubConfig",
    "HubError",
    "MethodTargetNotFoundError",
    "MethodTimeoutError",
    "UpstreamRecord",
]
