"""The IoT Hub face: an IoT Edge module speaking edgeHub's MQTT dialect through azure-iot-device.

- Input messages (``input1`` and any other input) with ``{"text"}`` / ``{"texts"}`` -> a message on
  ``output1`` with the result(s), ``application/json`` / ``utf-8``, correlation id = the input's
  message id; bad input -> a message on ``errors`` with the same correlation id. Nothing is dropped.
- Direct method ``score`` -> 200 with the result, 400 with an error body; other methods -> 404.
- Desired properties (thresholds, include_neutral, max_batch, max_batch_delay_ms, capture) are
  applied live and acknowledged in reported properties, with status, model identity, counters,
  latency p50 / p99 and the drift summary, reported periodically.

The SDK calls message handlers on a pool of four threads; the handler only parses and queues
the texts (the micro-batcher merges what arrives together), and a sender thread waits for results
in the order the handlers queued them and publishes them.

At least once: the SDK (paho underneath) acknowledges an input message (MQTT PUBACK) as soon as
it has read it, before any handler runs, so a module killed with messages in its queues would
lose them: the hub had deleted them on the PUBACK. ``AckGate`` holds each input message's PUBACK
back until its result (or error reply) has been sent, so edgeHub keeps every message this module
has not finished and delivers it again after a restart or reconnect (duplicates are possible,
losses are not). It also bounds the module's intake to the hub's in-flight window.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from edgeship_sentiment.errors import BadRequestError, SentimentModuleError
from edgeship_sentiment.hub_window import MAX_SEND_WINDOW
from edgeship_sentiment.jsontypes import AppliedSettings, JSONObject, JSONValue, ReportedProperties
from edgeship_sentiment.model_update import ModelStore, ModelUpdater
from edgeship_sentiment.model_update.updater import limits_from_environment
from edgeship_sentiment.scorer import Engine
from edgeship_sentiment.service import Reply, SentimentService
from edgeship_sentiment.tcp import PahoMessage, Tunable, set_tcp_nodelay

if TYPE_CHECKING:
    from azure.iot.device import MethodRequest
    from azure.iot.device.custom_typing import JSONSerializable

log = logging.getLogger("edgeship_sentiment.iothub")

OUTPUT = "output1"
ERRORS_OUTPUT = "errors"
SCORE_METHOD = "score"
SETTINGS_WAIT_SECS = 30.0


class InputMessage(Protocol):
    """An input message as the SDK hands it to ``on_message_received`` (``azure.iot.device.Message``)."""

    data: bytes | str
    message_id: str | None
    correlation_id: str | None
    input_name: str | None


class ModuleClient(Protocol):
    """The part of ``IoTHubModuleClient`` the face uses (a test twin implements the same)."""

    on_message_received: Callable[[InputMessage], None] | None
    on_method_request_received: Callable[[MethodRequest], None] | None
    on_twin_desired_properties_patch_received: Callable[[JSONObject], None] | None

    def connect(self) -> None: ...
    def get_twin(self) -> dict[str, JSONObject]: ...  # {"desired": {...}, "reported": {...}}
    def patch_twin_reported_properties(self, reported_properties_patch: ReportedProperties) -> None: ...
    def send_message_to_output(self, message: object, output_name: str) -> None: ...
    def send_method_response(self, method_response: object) -> None: ...
    def shutdown(self) -> None: ...


class PahoClient(Protocol):
    """The paho 1.6 client inside the SDK: the callbacks the face wraps and the PUBACK it holds back."""

    on_message: Callable[[object, object, PahoMessage], None]
    on_disconnect: Callable[[object, object, int], None]
    on_socket_open: Callable[[object, object, Tunable], None]
    _send_puback: Callable[[int], int]


def sdk_errors() -> tuple[type[Exception], ...]:
    """What the SDK's operations raise: its client errors (the connection, credentials), service errors,
    cancellations and timeouts, and ``ValueError`` for a message over the hub's size limit."""
    from azure.iot.device.exceptions import ClientError, OperationCancelled, OperationTimeout, ServiceError

    return (ClientError, ServiceError, OperationCancelled, OperationTimeout, ValueError)


@dataclass
class _Outgoing:
    reply_future: Future[Reply]
    correlation_id: str | None
    input_name: str | None
    message: InputMessage | None = None


def sdk_paho_client(client: object) -> PahoClient | None:
    """The paho client inside an azure-iot-device 2.14 ``IoTHubModuleClient`` (None if not found)."""
    stage = getattr(getattr(client, "_mqtt_pipeline", None), "_pipeline", None)
    while stage is not None:
        paho: PahoClient | None = getattr(getattr(stage, "transport", None), "_mqtt_client", None)
        if paho is not None:
            return paho
        stage = getattr(stage, "next", None)
    return None


def disable_nagle(client: object) -> bool:
    """TCP_NODELAY on the SDK's socket at every (re)connect (``tcp.set_tcp_nodelay``).

    Measured with ``bench_e2e.py``: at 100 messages per second the module kept up with only 49
    (p50 780 ms) under Nagle's algorithm; with TCP_NODELAY, 100 (p50 20-30 ms).
    """
    paho = sdk_paho_client(client)
    if paho is None or not hasattr(paho, "on_socket_open"):
        log.warning("the SDK's MQTT client was not found: Nagle's algorithm stays on")
        return False
    paho.on_socket_open = set_tcp_nodelay
    return True


class AckGate:
    """Holds back the MQTT PUBACK of input messages until ``release(message)``.

    Works on the paho client inside azure-iot-device 2.14 (pinned in constraints.txt): the SDK
    builds its ``Message`` around the very payload object paho received, so the payload's identity
    ties a message to its packet id. A held PUBACK belongs to one connection; when that connection
    drops, the held ones are forgotten (the hub resends those messages on the next connection).
    """

    def __init__(self, paho_client: PahoClient) -> None:
        self._paho = paho_client
        # Re-entrant: without paho's loop thread, a PUBACK sent by release() may run paho's disconnect
        # handling (and so _on_disconnect) on the same thread.
        self._lock = threading.RLock()
        self._held: dict[int, tuple[int, int, bytes]] = {}  # id(payload) -> (connection, packet id, payload)
        self._holding: set[int] = set()  # packet ids whose PUBACK paho must not send yet
        self._connection = 0
        self._send_puback = paho_client._send_puback
        self._sdk_on_message = paho_client.on_message
        self._sdk_on_disconnect = paho_client.on_disconnect
        paho_client.on_message = self._on_message
        paho_client.on_disconnect = self._on_disconnect
        paho_client._send_puback = self._puback

    @classmethod
    def install(cls, client: object) -> AckGate | None:
        """Install on an ``IoTHubModuleClient``; None (and a warning) when its internals differ."""
        paho = sdk_paho_client(client)
        if paho is not None and all(hasattr(paho, name) for name in ("_send_puback", "on_message")):
            return cls(paho)
        log.warning("the SDK's MQTT client was not found: input messages are acknowledged on receipt")
        return None

    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def _on_message(self, client: object, userdata: object, message: PahoMessage) -> None:  # paho's network thread
        if message.qos == 1 and "/inputs/" in message.topic:
            with self._lock:
                self._held[id(message.payload)] = (self._connection, message.mid, message.payload)
                self._holding.add(message.mid)
        self._sdk_on_message(client, userdata, message)

    def _puback(self, mid: int) -> int:  # paho's network thread, right after on_message
        with self._lock:
            if mid in self._holding:
                return 0  # MQTT_ERR_SUCCESS: sent later by release()
        result: int = self._send_puback(mid)
        return result

    def _on_disconnect(self, client: object, userdata: object, rc: int) -> None:
        with self._lock:
            self._connection += 1
            self._held.clear()
            self._holding.clear()
        self._sdk_on_disconnect(client, userdata, rc)

    def release(self, message: InputMessage | None) -> None:
        """Acknowledge ``message`` (an SDK input ``Message``) now that its result is sent."""
        with self._lock:  # held across the send: a disconnect cannot slip in between
            entry = self._held.pop(id(getattr(message, "data", None)), None)
            if entry is None or entry[0] != self._connection:
                return
            self._holding.discard(entry[1])
            self._send_puback(entry[1])


class IoTHubFace:
    def __init__(
        self, service: SentimentService, client: ModuleClient, *, report_interval: float = 10.0, send_window: int = 1
    ) -> None:
        if not 1 <= send_window <= MAX_SEND_WINDOW:
            raise SentimentModuleError(f"send_window must be 1-{MAX_SEND_WINDOW}, got {send_window}")
        self.service = service
        self.client = client
        self.report_interval = report_interval
        self._outgoing: queue.Queue[_Outgoing | None] = queue.Queue()
        self._stop = threading.Event()
        # The SDK's send blocks until the hub's PUBACK: one sender publishes at one round trip per
        # message; a window of senders keeps that many in flight (results may then leave up to
        # window - 1 places out of order; each carries its input's id as correlation id).
        self._senders = [
            threading.Thread(target=self._send_loop, name=f"iothub-sender-{i}", daemon=True) for i in range(send_window)
        ]
        self._sent_lock = threading.Lock()
        self._reporter = threading.Thread(target=self._report_loop, name="iothub-reporter", daemon=True)
        self.sent = 0
        self.send_failures = 0
        self.status = "starting"
        self.acks: AckGate | None = None
        self._settings_applied = threading.Event()
        self.updater: ModelUpdater | None = None

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> IoTHubFace:
        self.acks = AckGate.install(self.client)  # before connecting: no input may be acknowledged early
        self._start_updater()
        disable_nagle(self.client)
        # The input handler is set before connecting: after a restart the hub resumes the session and
        # sends stored messages at once, and the SDK drops (and acknowledges) input messages that
        # arrive while no handler is set. The handler waits until the desired settings are applied.
        self.client.on_message_received = self._on_message
        self.client.connect()
        twin = self.client.get_twin()
        desired = dict(twin.get("desired", {}))
        applied, error = self._apply(desired)
        for sender in self._senders:
            sender.start()
        self._settings_applied.set()
        self.client.on_method_request_received = self._on_method
        self.client.on_twin_desired_properties_patch_received = self._on_desired_patch
        self.status = "running"
        self._report({"settings": applied, "settings_error": error, "settings_version": desired.get("$version")})
        self._reporter.start()
        return self

    def stop(self) -> None:
        """Finish what is in flight, report, then close the connection."""
        self.status = "stopped"
        self._stop.set()
        for _ in self._senders:
            self._outgoing.put(None)
        for sender in self._senders:
            sender.join(timeout=30)
        if self.updater is not None:
            self.updater.close()
        try:
            self._report({})
        except sdk_errors() as exc:  # the connection may already be gone; shutdown goes on
            log.warning("final report failed: %s", exc)
        self.client.shutdown()

    # ---- messages --------------------------------------------------------------------
    def _on_message(self, message: InputMessage) -> None:
        self._settings_applied.wait(SETTINGS_WAIT_SECS)  # messages that arrive during start()
        correlation_id = message.message_id or message.correlation_id
        future = self.service.submit(message.data, "iothub", correlation_id)
        self._outgoing.put(_Outgoing(future, correlation_id, message.input_name, message))

    def _send_loop(self) -> None:
        from azure.iot.device import Message
        from azure.iot.device.exceptions import ConnectionDroppedError, NoConnectionError, OperationTimeout

        connection_errors = (ConnectionDroppedError, NoConnectionError, OperationTimeout)  # the link, not the message

        while True:
            item = self._outgoing.get()
            if item is None:
                return
            reply = item.reply_future.result()
            out = Message(
                reply.body(),
                content_encoding="utf-8",  # type: ignore[no-untyped-call]
                content_type="application/json",
            )
            if item.correlation_id is not None:
                out.correlation_id = item.correlation_id
            if item.input_name:
                out.custom_properties["input"] = item.input_name
            if reply.model is not None:
                out.custom_properties["model"] = reply.model  # the version that scored it (twin updates)
            output = OUTPUT if reply.ok else ERRORS_OUTPUT
            if not reply.ok:
                out.custom_properties["status"] = str(reply.status)
            connection_lost = False
            try:
                self.client.send_message_to_output(out, output)
                with self._sent_lock:
                    self.sent += 1
            except sdk_errors() as exc:  # the SDK retries internally; count and go on
                with self._sent_lock:
                    self.send_failures += 1
                connection_lost = isinstance(exc, connection_errors)
                log.error("sending to %s failed: %s", output, exc)
            if self.acks is not None and not connection_lost:
                # After other failed sends too: a message whose reply cannot be sent must not come back
                # forever. A send lost with the connection keeps its input unacknowledged: the hub sends
                # it again on the next connection.
                self.acks.release(item.message)

    # ---- methods ---------------------------------------------------------------------
    def _on_method(self, request: MethodRequest) -> None:
        from azure.iot.device import MethodResponse

        payload: JSONSerializable
        if request.name != SCORE_METHOD:
            status, payload = 404, {"error": f"unknown method {request.name!r}; this module has 'score'"}
        else:
            try:
                body = request.payload if isinstance(request.payload, str) else json.dumps(request.payload)
            except (TypeError, ValueError, RecursionError):  # e.g. nested too deeply to encode again
                self.service.metrics.observe_error("method", "bad_request")
                status, payload = 400, {"error": "the method payload cannot be read as a request (nested too deeply?)"}
            else:
                reply = self.service.handle(body, "method")
                # The result, an error body or an entry script's value, handed to the SDK as before (it encodes it).
                status, payload = reply.status, cast("JSONSerializable", reply.payload)
        self.client.send_method_response(MethodResponse.create_from_method_request(request, status, payload))

    # ---- twin ------------------------------------------------------------------------
    def _apply(self, desired: Mapping[str, JSONValue]) -> tuple[AppliedSettings, str | None]:
        if self.updater is not None and desired.get("model") is not None:
            self.updater.request(desired["model"])  # on its own thread; reports model_update itself
        try:
            return self.service.apply_settings(desired), None
        except BadRequestError as exc:
            log.error("desired properties refused: %s", exc)
            return {}, str(exc)

    def _on_desired_patch(self, patch: JSONObject) -> None:
        applied, error = self._apply(dict(patch))
        self._report({"settings": applied, "settings_error": error, "settings_version": patch.get("$version")})

    def _report(self, extra: ReportedProperties) -> None:
        self.client.patch_twin_reported_properties({**self.state(), **extra})

    def state(self) -> ReportedProperties:
        metrics = self.service.metrics
        state: ReportedProperties = {
            "status": self.status,
            "model": self.service.describe(),
            "messages": metrics.message_count,
            "errors": metrics.error_count,
            "latency": metrics.latency_percentiles(),
            "drift": self.service.capture.summary(),
        }
        if self.updater is not None:
            state["model_update"] = self.updater.status.copy()
        return state

    def _start_updater(self) -> None:
        """Model updates through the twin (ONNX backend only): the stored model first, then patches."""
        scorer = self.service.scorer
        if scorer is None:
            return
        store = ModelStore.from_environment(Path("model-store"))

        def swapped(engine: Engine) -> None:
            self.service.model = engine.model  # describe() and reported "model" name what now serves

        self.updater = ModelUpdater(
            scorer,
            store,
            report=lambda status: self._report({"model_update": status}),
            on_swap=swapped,
            **limits_from_environment(),
        )
        self.updater.restore()
        self.updater.start()

    def _report_loop(self) -> None:
        while not self._stop.wait(self.report_interval):
            try:
                self._report({})
            except sdk_errors() as exc:  # a report lost to a reconnect is retried next interval
                log.warning("periodic report failed: %s", exc)


def create_edge_client(factory: Callable[[], ModuleClient] | None = None) -> ModuleClient:
    """``IoTHubModuleClient.create_from_edge_environment()``: the IOTEDGE_* variables and workload API."""
    from azure.iot.device import IoTHubModuleClient

    if factory is not None:
        return factory()
    # The SDK's client is a ModuleClient at run time; its annotations only spell it differently: JSON that
    # may hold tuples, handlers that may be coroutines, a twin patch as a plain dict (which a
    # ReportedProperties TypedDict is at run time, but not to mypy).
    return cast(ModuleClient, IoTHubModuleClient.create_from_edge_environment())
