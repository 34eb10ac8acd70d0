"""Prometheus metrics and the latency window reported to the twin, per module instance."""

from __future__ import annotations

import threading
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from edgeship_sentiment.jsontypes import LatencyPercentiles

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ModuleMetrics:
    def __init__(self, window: int = 2048) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("sentiment_requests", "Requests received, by face.", ["face"], registry=self.registry)
        self.texts = Counter("sentiment_texts_scored", "Texts scored.", registry=self.registry)
        self.errors = Counter(
            "sentiment_errors",
            "Requests answered with an error, by face and kind.",
            ["face", "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sentiment_request_latency_seconds",
            "Request latency, arrival to reply.",
            ["face"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "sentiment_batch_size", "Texts per onnxruntime call.", buckets=BATCH_BUCKETS, registry=self.registry
        )
        self._window: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()
        self.message_count = 0
        self.error_count = 0

    def observe_request(self, face: str, seconds: float, texts: int) -> None:
        self.requests.labels(face).inc()
        self.texts.inc(texts)
        self.latency.labels(face).observe(seconds)
        with self._lock:
            self.message_count += 1
            self._window.append(seconds)

    def observe_error(self, face: str, kind: str) -> None:
        self.requests.labels(face).inc()
        self.errors.labels(face, kind).inc()
        with self._lock:
            self.message_count += 1
            self.error_count += 1

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)

    def latency_percentiles(self) -> LatencyPercentiles:
        with self._lock:
            values = sorted(self._window)
        if not values:
            return {"p50_ms": None, "p99_ms": None}

        def pick(q: float) -> float:
            return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 3)

        return {"p50_ms": pick(0.50), "p99_ms": pick(0.99)}

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
