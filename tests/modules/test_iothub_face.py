"""The IoT Hub face against an in-memory twin of the SDK client, with the SDK's real message types.

The same face runs against the simulator's hub with the real client over TLS in the simulator's
integration tests; here every branch is checked quickly and deterministically.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from azure.iot.device import MethodRequest

from edgeship_sentiment.iothub_face import IoTHubFace
from edgeship_sentiment.service import SentimentService
from tests.support.module_client import InMemoryModuleClient, input_message

pytestmark = pytest.mark.slow


@pytest.fixture
def face(service: SentimentService) -> Any:
    client = InMemoryModuleClient({"thresholds": {"negative": 0.3, "positive": 0.8}, "max_batch": 8})
    face = IoTHubFace(service, client, report_interval=3600).start()
    yield face
    face.stop()


def test_start_applies_desired_and_reports_identity(face: IoTHubFace) -> None:
    client: InMemoryModuleClient = face.client  # type: ignore[assignment]
    assert client.connected
    first = client.reported[0]
    assert first["status"] == "running"
    assert first["model"]["model"] == "sentiment:1"
    assert first["settings"]["thresholds"] == {"negative": 0.3, "positive": 0.8}
    assert first["settings"]["max_batch"] == 8
    assert first["settings_version"] == 1


def test_input_message_scored_to_output1_with_correlation(face: IoTHubFace) -> None:
    client: InMemoryModuleClient = face.client  # type: ignore[assignment]
    client.on_message_received(input_message(json.dumps({"text": "I love it"}), "m-1"))
    client.on_message_received(input_message(json.dumps({"texts": ["good", "bad"]}), "m-2"))
    outputs = [client.outputs.get(timeout=10) for _ in range(2)]
    assert [name for name, _ in outputs] == ["output1", "output1"]
    first, second = (message for _, message in outputs)
    assert first.correlation_id == "m-1"
    assert first.content_type == "application/json"
    assert first.content_encoding == "utf-8"
    assert set(json.loads(first.data)) == {"label", "score", "elapsed_time"}
    assert second.correlation_id == "m-2"
    assert len(json.loads(second.data)) == 2


@pytest.mark.parametrize("body", [b"\xff", b"not json", b'{"text": null}', b'{"texts": [1]}', b"{}"])
def test_bad_input_goes_to_errors_with_correlation(face: IoTHubFace, body: bytes) -> None:
    client: InMemoryModuleClient = face.client  # type: ignore[assignment]
    client.on_message_received(input_message(body, "bad-1"))
    client.on_message_received(input_message(b'{"text": "after the bad one"}', "good-1"))
    name, message = client.outputs.get(timeout=10)
    assert name == "errors"
    assert message.correlation_id == "bad-1"
    assert "error" in json.loads(message.data)
    assert message.custom_properties["status"] == "400"
    name, message = client.outputs.get(timeout=10)
    assert (name, message.correlation_id) == ("output1", "good-1")
    assert face.service.metrics.error_count == 1


def test_score_method_200_400_404(face: IoTHubFace) -> None:
    client: InMemoryModuleClient = face.client  # type: ignore[assignment]
    client.on_method_request_received(MethodRequest("r1", "score", {"text": "great"}))
    ok = client.method_responses.get(timeout=10)
    assert (ok.request_id, ok.status) == ("r1", 200)
    assert set(ok.payload) == {"label", "score", "elapsed_time"}
    client.on_method_request_received(MethodRequest("r2", "score", {"wrong": 1}))
    bad = client.method_responses.get(timeout=10)
    assert bad.status == 400
    assert "error" in bad.payload
    client.on_method_request_received(MethodRequest("r3", "reboot", None))
    assert client.method_responses.get(timeout=10).status == 404


def test_desired_patch_applied_live_and_acknowledged(face: IoTHubFace) -> None:
    client: InMemoryModuleClient = face.client  # type: ignore[assignment]
    client.reported_event.clear()
    client.on_twin_desired_properties_patch_received(
        {"thresholds": {"negative": 0.0, "positive": 1.0}, "include_neutral": True, "$version": 2}
    )
    assert client.reported_event.wait(10)
    ack = client.reported[-1]
    assert ack["settings"]["thresholds"] == {"negative": 0.0, "positive": 1.0}
    assert ack["settings_version"] == 2
    assert ack["settings_error"] is None
    client.on_method_request_received(MethodRequest("r", "score", {"text": "anything at all"}))
    assert client.method_responses.get(timeout=10).payload["label"] == "NEUTRAL"
    client.on_twin_desired_properties_patch_received({"thresholds": {"negative": 0.9, "positive": 0.1}, "$version": 3})
    assert client.reported[-1]["settings_error"].startswith("thresholds must satisfy")


def test_capture_via_twin_is_bounded(face: IoTHubFace, tmp_path: Any) -> None:
    client: InMemoryModuleClient = face.client  # type: ignore[assignment]
    client.on_twin_desired_properties_patch_received(
        {"capture": {"enabled": True, "sample_rate": 1.0, "max_bytes": 4096, "max_files": 2}, "$version": 4}
    )
    for index in range(120):
        client.on_message_received(input_message(json.dumps({"text": f"tweet number {index} zzqx"}), f"c-{index}"))
    for _ in range(120):
        client.outputs.get(timeout=10)
    assert face.service.capture.stored_bytes() <= 4096
    summary = face.state()["drift"]
    assert summary["captured"] == 120
    assert sum(summary["score_histogram"].values()) == 120
    assert summary["oov_rate"] is not None
    assert 0 < summary["oov_rate"] < 1


def test_stop_finishes_in_flight_and_closes(service: SentimentService) -> None:
    client = InMemoryModuleClient()
    face = IoTHubFace(service, client, report_interval=3600).start()
    for index in range(50):
        client.on_message_received(input_message(json.dumps({"text": f"t{index}"}), f"s-{index}"))
    face.stop()
    assert client.outputs.qsize() == 50
    assert client.closed
    assert client.reported[-1]["status"] == "stopped"


class GatedModuleClient(InMemoryModuleClient):
    """Sends block until the test opens the gate, as the SDK's block until the hub's PUBACK."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()
        self.four_in_flight = threading.Event()

    def send_message_to_output(self, message: Any, output_name: str) -> None:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            if self.in_flight >= 4:
                self.four_in_flight.set()
        self.gate.wait(30)
        with self._lock:
            self.in_flight -= 1
        super().send_message_to_output(message, output_name)


@pytest.mark.parametrize("window", [1, 4])
def test_send_window_bounds_results_in_flight(service: SentimentService, window: int) -> None:
    client = GatedModuleClient()
    face = IoTHubFace(service, client, report_interval=3600, send_window=window).start()
    try:
        for i in range(12):
            client.on_message_received(input_message(json.dumps({"text": f"good day {i}"}), f"m{i}"))
        if window == 4:
            assert client.four_in_flight.wait(10)
        client.gate.set()
        got = [client.outputs.get(timeout=10) for _ in range(12)]
    finally:
        client.gate.set()
        face.stop()
    assert client.most_in_flight == window
    assert sorted(str(m.correlation_id) for _, m in got) == sorted(f"m{i}" for i in range(12))
    assert {name for name, _ in got} == {"output1"}
    assert face.sent == 12
    if window == 1:  # one sender keeps the handlers' order
        assert [m.correlation_id for _, m in got] == [f"m{i}" for i in range(12)]


def test_send_window_is_validated(service: SentimentService) -> None:
    from edgeship_sentiment.errors import SentimentModuleError

    with pytest.raises(SentimentModuleError, match="send_window must be 1-64, got 0"):
        IoTHubFace(service, InMemoryModuleClient(), send_window=0)
