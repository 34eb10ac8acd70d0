"""Adaptive micro-batching: requests that queue while the scorer is busy are scored in one call.

A worker thread takes the first waiting request and everything else already queued (up to
``max_batch`` texts), and scores them at once. An idle scorer therefore scores a lone request
immediately; under load, the requests that arrive while one batch runs form the next, so batches
grow with the load and the per-text cost falls (see ``bench/``).

``max_batch_delay_ms`` is an upper bound, never a fixed wait: the fixed wait made every lone request
pay it, 4.4 ms for a 0.19 ms score (issue #14). The batcher waits at all only while it has company:
when the last batch held more than one request and the scorer has not sat idle for ten delay budgets,
the clients it just answered are about to send again (a closed loop of N clients), so it waits until
the batch holds as many texts as the last batch plus those that queued while it ran, no longer than
the budget counted from the first request's arrival. Without that, 32 clients settled into two
cohorts of 16 that never merged and the batcher ran 0.89 - 0.96x the fixed wait's requests per
second; a lone client (its last batch alone) and a request after a quiet spell never wait.

A request of many texts (``{"texts": [...]}``) travels as one item: it is never split, and one
larger than ``max_batch`` is scored on its own in one call (the scorer cuts it into length
buckets). Results resolve ``concurrent.futures.Future``
objects, so any face (threads, paho callbacks, the SDK's handler threads) can wait on them.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

from edgeship_sentiment.errors import BadRequestError, SentimentModuleError
from edgeship_sentiment.jsontypes import ScoreResult
from edgeship_sentiment.scorer import Scorer, check_text, decode_label


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
    texts: list[str]
    future: Future[list[ScoreResult]]
    enqueued: float


_STOP = object()
# The scorer counts as idle (a new request is scored at once) after this many delay budgets without
# work. With one budget, 32 clients swung between merged batches and split cohorts from round to
# round (0.88-1.37x the fixed wait over 7 rounds): the HTTP loop's turnaround after a batch of 32
# can exceed one budget. With ten the rounds stayed within 0.83-1.13x, median 1.00x.
IDLE_BUDGETS = 10
BatchListener = Callable[[int, float], None]  # (batch size, seconds)


class MicroBatcher:
    def __init__(self, scorer: Scorer, settings: BatchSettings | None = None) -> None:
        self.scorer = scorer
        self.settings = (settings or BatchSettings()).validated()
        self.stats = BatchStats()
        self._queue: queue.Queue[_Request | object] = queue.Queue()
        self._stats_lock = threading.Lock()
        self._listeners: list[BatchListener] = []
        self._thread = threading.Thread(target=self._run, name="sentiment-batcher", daemon=True)
        self._started = False
        self._closed = False
        # The last batch: its requests and texts (company, and how much), and when it was answered.
        self._last_requests = 0
        self._last_texts = 0
        self._last_answered = 0.0

    def add_listener(self, listener: BatchListener) -> None:
        """``listener(batch_size, seconds)`` after every batch (metrics)."""
        self._listeners.append(listener)

    def start(self) -> MicroBatcher:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def update(self, *, max_batch: int | None = None, max_batch_delay_ms: float | None = None) -> BatchSettings:
        """Change what is given, keep the rest; refused as a whole when the result is not valid."""
        settings = self.settings
        if max_batch is not None:
            settings = replace(settings, max_batch=max_batch)
        if max_batch_delay_ms is not None:
            settings = replace(settings, max_batch_delay_ms=max_batch_delay_ms)
        self.settings = settings.validated()
        return self.settings

    def submit(self, text: str) -> Future[ScoreResult]:
        """Queue one text; bad input fails the returned future, never the worker."""
        one: Future[ScoreResult] = Future()

        def unwrap(many: Future[list[ScoreResult]]) -> None:
            error = many.exception()
            if error is not None:
                one.set_exception(error)
            else:
                one.set_result(many.result()[0])

        self.submit_many([text]).add_done_callback(unwrap)
        return one

    def submit_many(self, texts: list[str]) -> Future[list[ScoreResult]]:
        """Queue texts that are answered together (one future for all of them, in their order)."""
        future: Future[list[ScoreResult]] = Future()
        if self._closed:
            future.set_exception(SentimentModuleError("the module is shutting down"))
            return future
        try:
            for text in texts:
                check_text(text)
        except BadRequestError as exc:
            future.set_exception(exc)
            return future
        if not texts:
            future.set_result([])
            return future
        self._queue.put(_Request(list(texts), future, time.perf_counter()))
        return future

    def score(self, text: str, timeout: float = 30.0) -> ScoreResult:
        return self.submit(text).result(timeout)

    def score_many(self, texts: list[str], timeout: float = 30.0) -> list[ScoreResult]:
        return self.submit_many(texts).result(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued, then stop the worker."""
        self._closed = True
        if self._started:
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _has_company(self, idle: bool) -> bool:
        return not idle and self.settings.max_batch_delay_ms > 0 and self._last_requests >= 2

    def _gather(self, first: _Request, idle: bool = True) -> tuple[list[_Request], _Request | None, bool]:
        """The batch, a request that did not fit (the next batch's first), and whether to stop.

        Takes what is already queued; with company (``_has_company``) it also waits for the clients
        the last batch answered, never past ``max_batch_delay_ms`` after ``first`` arrived.
        """
        batch, texts = [first], len(first.texts)
        settings = self.settings
        wait = self._has_company(idle)
        # Texts that queued while the last batch ran, plus the last batch's own clients coming back.
        target = self._last_texts + (texts if first.enqueued < self._last_answered else 0)
        deadline = first.enqueued + settings.max_batch_delay_ms / 1000
        while texts < settings.max_batch:
            remaining = deadline - time.perf_counter() if wait and texts < target else 0.0
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, None, True
            assert isinstance(item, _Request)
            if texts + len(item.texts) > settings.max_batch:
                return batch, item, False
            batch.append(item)
            texts += len(item.texts)
            if item.enqueued < self._last_answered:
                target += len(item.texts)
        return batch, None, False

    def _run(self) -> None:
        carried: _Request | None = None
        while True:
            item: _Request | object
            if carried is not None:
                item, idle = carried, False
            else:
                blocked_from = time.perf_counter()
                item = self._queue.get()
                idle = time.perf_counter() - blocked_from > IDLE_BUDGETS * self.settings.max_batch_delay_ms / 1000
            if item is _STOP:
                return
            assert isinstance(item, _Request)
            batch, carried, stop = self._gather(item, idle)
            # Answered before any result is set: a client that sends again at once counts as coming back.
            self._last_answered = self._score(batch)
            self._last_requests = len(batch)
            self._last_texts = sum(len(request.texts) for request in batch)
            if stop:  # _gather carries nothing over when it meets the stop marker
                return

    def _score(self, batch: list[_Request]) -> float:
        """Scores and answers the batch; returns when scoring ended, before the first answer left."""
        started = time.perf_counter()
        texts = [text for request in batch for text in request.texts]
        try:
            scores: list[float] = self.scorer.raw_scores(texts).tolist()
        except Exception as exc:  # noqa: BLE001 - the worker must outlive any one batch (onnxruntime, numpy, the
            # tokenizer, MemoryError...): if it died, every queued and later future would wait forever
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(SentimentModuleError(f"scoring failed: {exc}"))
            return started
        finished = time.perf_counter()
        settings, labels = self.scorer.settings, self.scorer.labels
        offset = 0
        for request in batch:
            elapsed = finished - request.enqueued
            mine = scores[offset : offset + len(request.texts)]
            offset += len(request.texts)
            request.future.set_result(
                [
                    {"label": decode_label(score, settings, labels), "score": score, "elapsed_time": elapsed}
                    for score in mine
                ]
            )
        with self._stats_lock:
            self.stats.batches += 1
            self.stats.texts += len(texts)
            self.stats.sizes[len(texts)] += 1
        for listener in self._listeners:
            listener(len(texts), finished - started)
        return finished
