"""Micro-batching: requests that arrive together are scored in one onnxruntime call.

A worker thread takes the first waiting request, then gathers more for at most
``max_batch_delay_ms`` or until ``max_batch`` are in hand, and scores them at once. A lone request
waits at most the delay budget; under load, batches fill before the budget runs out and the
per-text cost falls (see ``bench/``). Results resolve ``concurrent.futures.Future`` objects, so
any face (threads, paho callbacks, the SDK's handler threads) can wait on them.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from edgeship_sentiment.errors import BadRequestError, SentimentModuleError
from edgeship_sentiment.scorer import Scorer, check_text


@dataclass(frozen=True)
class BatchSettings:
    max_batch: int = 32
    max_batch_delay_ms: float = 2.0

    def validated(self) -> BatchSettings:
        if not 1 <= self.max_batch <= 4096:
            raise BadRequestError(f"max_batch must be 1-4096, got {self.max_batch}")
        if not 0 <= self.max_batch_delay_ms <= 10_000:
            raise BadRequestError(f"max_batch_delay_ms must be 0-10000, got {self.max_batch_delay_ms}")
        return self


@dataclass
class BatchStats:
    batches: int = 0
    texts: int = 0
    sizes: Counter[int] = field(default_factory=Counter)


@dataclass
class _Request:
    text: str
    future: Future[dict[str, Any]]
    enqueued: float


_STOP = object()


class MicroBatcher:
    def __init__(self, scorer: Scorer, settings: BatchSettings | None = None) -> None:
        self.scorer = scorer
        self.settings = (settings or BatchSettings()).validated()
        self.stats = BatchStats()
        self._queue: queue.Queue[_Request | object] = queue.Queue()
        self._stats_lock = threading.Lock()
        self._listeners: list[Any] = []
        self._thread = threading.Thread(target=self._run, name="sentiment-batcher", daemon=True)
        self._started = False
        self._closed = False

    def add_listener(self, listener: Any) -> None:
        """``listener(batch_size, seconds)`` after every batch (metrics)."""
        self._listeners.append(listener)

    def start(self) -> MicroBatcher:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def update(self, **changes: Any) -> BatchSettings:
        from dataclasses import replace

        self.settings = replace(self.settings, **changes).validated()
        return self.settings

    def submit(self, text: str) -> Future[dict[str, Any]]:
        """Queue one text; bad input fails the returned future, never the worker."""
        future: Future[dict[str, Any]] = Future()
        if self._closed:
            future.set_exception(SentimentModuleError("the module is shutting down"))
            return future
        try:
            check_text(text)
        except BadRequestError as exc:
            future.set_exception(exc)
            return future
        self._queue.put(_Request(text, future, time.perf_counter()))
        return future

    def score(self, text: str, timeout: float = 30.0) -> dict[str, Any]:
        return self.submit(text).result(timeout)

    def score_many(self, texts: list[str], timeout: float = 30.0) -> list[dict[str, Any]]:
        futures = [self.submit(text) for text in texts]
        return [future.result(timeout) for future in futures]

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop the worker."""
        self._closed = True
        if self._started:
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        batch = [first]
        settings = self.settings
        deadline = time.perf_counter() + settings.max_batch_delay_ms / 1000
        stop = False
        while len(batch) < settings.max_batch:
            remaining = deadline - time.perf_counter()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stop = True
                break
            assert isinstance(item, _Request)
            batch.append(item)
        return batch, stop

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, _Request)
            batch, stop = self._gather(item)
            self._score(batch)
            if stop:
                return

    def _score(self, batch: list[_Request]) -> None:
        started = time.perf_counter()
        try:
            scores = self.scorer.raw_scores([request.text for request in batch])
        except Exception as exc:  # the worker must outlive any one batch
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(SentimentModuleError(f"scoring failed: {exc}"))
            return
        finished = time.perf_counter()
        from edgeship_sentiment.scorer import decode_label

        settings, labels = self.scorer.settings, self.scorer.labels
        for request, score in zip(batch, scores, strict=True):
            request.future.set_result({"label": decode_label(float(score), settings, labels), "score": float(score),
                                       "elapsed_time": finished - request.enqueued})
        with self._stats_lock:
            self.stats.batches += 1
            self.stats.texts += len(batch)
            self.stats.sizes[len(batch)] += 1
        for listener in self._listeners:
            listener(len(batch), finished - started)
