"""The HTTP face with a real HTTP client and the seed's own client code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from edgeship_sentiment.http_face import SentimentHTTPServer
from edgeship_sentiment.service import SentimentService

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture
def server(service: SentimentService) -> Iterator[SentimentHTTPServer]:
    srv = SentimentHTTPServer(service, "127.0.0.1", 0)
    srv.start_background()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_seed_client_code_works_unchanged(server: SentimentHTTPServer) -> None:
    scoring_uri = server.url + "/score"
    # --- the seed's client, verbatim ---
    headers = {"Content-Type": "application/json"}
    test_data = json.dumps({"text": "Today is a great day!"})
    response = requests.post(scoring_uri, data=test_data, headers=headers, timeout=10)
    # ---
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"label", "score", "elapsed_time"}
    assert body["label"] in {"NEGATIVE", "NEUTRAL", "POSITIVE"}
    direct: Any = server.service.handle(test_data, "test").payload
    assert body["score"] == pytest.approx(direct["score"], abs=1e-6)
    assert response.headers["x-model-version"] == "sentiment:1"  # the model that scored it


def test_batch_request(server: SentimentHTTPServer) -> None:
    response = requests.post(server.url + "/score", json={"texts": ["good", "bad", "meh"]}, timeout=10)
    assert response.status_code == 200
    assert [set(r) for r in response.json()] == [{"label", "score", "elapsed_time"}] * 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b'{"text": 3}', "must be a string"),
        (b'{"nope": 1}', '"text"'),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"text": "x" * 300_000}).encode(), "larger"),
    ],
)
def test_bad_input_is_400_with_error_and_request_id(server: SentimentHTTPServer, body: bytes, message: str) -> None:
    response = requests.post(server.url + "/score", data=body, headers={"x-request-id": "req-42"}, timeout=10)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert response.headers["x-request-id"] == "req-42"
    # The module keeps scoring afterwards.
    assert requests.post(server.url + "/score", json={"text": "still here"}, timeout=10).status_code == 200


def test_health_and_metrics(server: SentimentHTTPServer) -> None:
    health = requests.get(server.url + "/health", timeout=10)
    assert health.status_code == 200
    assert health.json()["live"] is True
    assert health.json()["ready"] is True
    assert health.json()["model"] == "sentiment:1"
    requests.post(server.url + "/score", json={"text": "a"}, timeout=10)
    requests.post(server.url + "/score", data=b"{", timeout=10)
    metrics = requests.get(server.url + "/metrics", timeout=10)
    assert metrics.headers["Content-Type"].startswith("text/plain")
    text = metrics.text
    assert 'sentiment_requests_total{face="http"} 2.0' in text
    assert 'sentiment_errors_total{face="http",kind="bad_request"} 1.0' in text
    assert "sentiment_request_latency_seconds_bucket" in text
    assert "sentiment_batch_size_count 1.0" in text


def test_unknown_route(server: SentimentHTTPServer) -> None:
    assert requests.get(server.url + "/nope", timeout=10).status_code == 404
