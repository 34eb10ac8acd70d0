"""The module's one core behind every face: parse, score (batched), reply, count.

Faces (IoT Hub, MQTT, HTTP) hand ``handle()`` the raw body and get a ``Reply`` back: a status
(200 or 400/500), a JSON-ready payload and the correlation id. Errors are replies, never
exceptions, so no face can crash or drop a message on bad input.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from edgeship_sentiment.batcher import BatchSettings, MicroBatcher
from edgeship_sentiment.capture import CaptureSettings, InputCapture
from edgeship_sentiment.entry_script import EntryScript
from edgeship_sentiment.errors import BadRequestError, SentimentModuleError
from edgeship_sentiment.jsontypes import AppliedSettings, ErrorBody, ModelDescription, ScoreResult
from edgeship_sentiment.metrics import ModuleMetrics
from edgeship_sentiment.model import ModelFolder, load_model_folder
from edgeship_sentiment.payloads import ScoreRequest, decode_body, parse_request
from edgeship_sentiment.scorer import Scorer, ScoringSettings, TaggedText

REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Reply:
    status: int
    payload: object  # ScoreResult(s), an ErrorBody, or an entry script's value (JSON-encodable or a 500)
    correlation_id: str | None = None
    model: str | None = None  # name:version of the model that scored it (ONNX backend)

    @property
    def ok(self) -> bool:
        return self.status < 400

    def body(self) -> bytes:
        return json.dumps(self.payload).encode("utf-8")


def error_payload(message: str, correlation_id: str | None = None) -> ErrorBody:
    payload: ErrorBody = {"error": message}
    if correlation_id is not None:
        payload["correlation_id"] = correlation_id
    return payload


class SentimentService:
    def __init__(
        self,
        model_dir: Path,
        *,
        entry_script: Path | None = None,
        batch: BatchSettings | None = None,
        capture: CaptureSettings | None = None,
        capture_dir: Path | None = None,
    ) -> None:
        self.metrics = ModuleMetrics()
        self.started_at = time.time()
        self.entry_script: EntryScript | None = None
        self.model: ModelFolder | None = None
        self.scorer: Scorer | None = None
        self.batcher: MicroBatcher | None = None
        if entry_script is not None:
            # Azure ML layout: AZUREML_MODEL_DIR holds the registered folder (model_dir's parent).
            self.entry_script = EntryScript(entry_script, model_dir).load()
        else:
            self.model = load_model_folder(model_dir)
            self.scorer = Scorer(self.model)
            self.batcher = MicroBatcher(self.scorer, batch).start()
            self.batcher.add_listener(self.metrics.observe_batch)
        self.capture = InputCapture(
            capture or CaptureSettings(), capture_dir or Path("capture"), self.model.tokenizer if self.model else None
        )

    @property
    def ready(self) -> bool:
        return self.batcher is not None or self.entry_script is not None

    def describe(self) -> ModelDescription:
        if self.model is None:
            return {"backend": "entry-script", "entry_script": str(self.entry_script.path if self.entry_script else "")}
        spec = self.model.spec
        return {
            "backend": "onnx",
            "model": self.model.identity,
            "sha256": spec.onnx_sha256,
            "source_sha256": spec.source_sha256,
            "converter": spec.converter,
            "quantization": spec.quantization,
        }

    def submit(self, body: bytes | str, face: str, correlation_id: str | None = None) -> Future[Reply]:
        """Queue a request without blocking; the future resolves to its reply (never raises)."""
        if self.entry_script is not None:
            done: Future[Reply] = Future()
            done.set_result(self.handle(body, face, correlation_id))
            return done
        assert self.batcher is not None
        started = time.perf_counter()
        result: Future[Reply] = Future()
        try:
            request = parse_request(body)
        except BadRequestError as exc:
            self.metrics.observe_error(face, "bad_request")
            result.set_result(Reply(400, error_payload(str(exc), correlation_id), correlation_id))
            return result
        correlation = correlation_id or request.correlation_id
        texts: list[str] = [TaggedText(text) if isinstance(text, str) else text for text in request.texts]
        scored = self.batcher.submit_many(texts)
        scored.add_done_callback(
            lambda done: result.set_result(self._collect(request, done, face, correlation, started, texts))
        )
        return result

    def _collect(
        self,
        request: ScoreRequest,
        scored: Future[list[ScoreResult]],
        face: str,
        correlation_id: str | None,
        started: float,
        texts: list[str] | None = None,
    ) -> Reply:
        try:
            results = scored.result()
        except BadRequestError as exc:
            self.metrics.observe_error(face, "bad_request")
            return Reply(400, error_payload(str(exc), correlation_id), correlation_id)
        except SentimentModuleError as exc:  # the batcher fails a batch with one (or a shutdown); a reply, not a loss
            self.metrics.observe_error(face, "internal")
            return Reply(500, error_payload(f"scoring failed: {exc}", correlation_id), correlation_id)
        self.metrics.observe_request(face, time.perf_counter() - started, len(results))
        for text, item in zip(request.texts, results, strict=True):
            self.capture.record(text, item)
        engine = next((t.engine for t in texts or () if isinstance(t, TaggedText) and t.engine), None)
        return Reply(
            200,
            results if request.batch else (results[0] if results else None),
            correlation_id,
            engine.version if engine is not None else None,
        )

    def handle(self, body: bytes | str, face: str, correlation_id: str | None = None) -> Reply:
        if self.batcher is not None:
            try:
                return self.submit(body, face, correlation_id).result(REQUEST_TIMEOUT)
            except TimeoutError:
                self.metrics.observe_error(face, "internal")
                return Reply(500, error_payload("scoring timed out", correlation_id), correlation_id)
        assert self.entry_script is not None
        started = time.perf_counter()
        try:
            payload = self.entry_script.run(decode_body(body))
        except BadRequestError as exc:
            self.metrics.observe_error(face, "bad_request")
            return Reply(400, error_payload(str(exc), correlation_id), correlation_id)
        except Exception as exc:  # noqa: BLE001 - the user's run() may raise anything; the module must answer
            self.metrics.observe_error(face, "script")
            return Reply(500, error_payload(f"{type(exc).__name__}: {exc}", correlation_id), correlation_id)
        self.metrics.observe_request(face, time.perf_counter() - started, 1)
        return Reply(200, payload, correlation_id)

    def apply_settings(self, desired: Mapping[str, object]) -> AppliedSettings:
        """Apply twin desired properties; returns what was applied (for reported properties)."""
        applied: AppliedSettings = {}
        if self.scorer is not None:
            thresholds = parse_thresholds(desired["thresholds"]) if "thresholds" in desired else None
            include_neutral = desired.get("include_neutral")
            if "include_neutral" in desired and not isinstance(include_neutral, bool):
                raise BadRequestError("include_neutral must be true or false")
            if thresholds is not None or isinstance(include_neutral, bool):
                neutral = include_neutral if isinstance(include_neutral, bool) else None
                settings = self.scorer.update_settings(thresholds=thresholds, include_neutral=neutral)
                applied["thresholds"] = {"negative": settings.thresholds[0], "positive": settings.thresholds[1]}
                applied["include_neutral"] = settings.include_neutral
        if self.batcher is not None:
            batch_changes = {key: desired[key] for key in ("max_batch", "max_batch_delay_ms") if key in desired}
            numbers: dict[str, int | float] = {}
            for key, value in batch_changes.items():
                if not _is_number(value):
                    raise BadRequestError(f"{key} must be a number")
                numbers[key] = value
            if numbers:
                max_batch = numbers.get("max_batch")
                settings_b = self.batcher.update(
                    max_batch=int(max_batch) if max_batch is not None else None,
                    max_batch_delay_ms=numbers.get("max_batch_delay_ms"),
                )
                applied["max_batch"] = settings_b.max_batch
                applied["max_batch_delay_ms"] = settings_b.max_batch_delay_ms
        if "capture" in desired:
            applied["capture"] = self.capture.configure(desired["capture"])
        return applied

    def scoring_settings(self) -> ScoringSettings | None:
        return self.scorer.settings if self.scorer else None

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        self.capture.close()


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_thresholds(value: object) -> tuple[float, float]:
    """Twin desired properties cannot hold arrays: ``{"negative": 0.4, "positive": 0.7}``; a list is also read."""
    if isinstance(value, dict):
        low, high = value.get("negative"), value.get("positive")
    elif isinstance(value, list | tuple) and len(value) == 2:
        low, high = value
    else:
        raise BadRequestError('thresholds must be {"negative": low, "positive": high}')
    if not (_is_number(low) and _is_number(high)):
        raise BadRequestError("thresholds must be numbers")
    return float(low), float(high)
