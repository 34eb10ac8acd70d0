"""JSON as the module reads and writes it, and the shapes that more than one place reads by key.

``JSONValue`` is what ``json.loads`` can return; a value read from the wire or a file is typed as
it and narrowed with ``isinstance`` where it is used. The TypedDicts are the module's own
documents: a score result (every face), the twin's reported properties (IoT Hub face, model
updater, ``status.json``) and their parts. Core modules (scorer, batcher) import this file; it
imports nothing of the package.
"""

from __future__ import annotations

from typing import NotRequired, TypeAlias, TypedDict

JSONScalar: TypeAlias = str | int | float | bool | None
JSONValue: TypeAlias = "JSONScalar | list[JSONValue] | dict[str, JSONValue]"
JSONObject: TypeAlias = "dict[str, JSONValue]"


class ScoreResult(TypedDict):
    """The seed's result for one text: ``{"label": "POSITIVE", "score": 0.958, "elapsed_time": 0.0009}``."""

    label: str
    score: float
    elapsed_time: float


class ErrorBody(TypedDict):
    """A face's error reply (IoT Hub ``errors`` output, method 400, HTTP 400 / 500)."""

    error: str
    correlation_id: NotRequired[str]


class MQTTReply(TypedDict):
    """What the MQTT face publishes on its response topic."""

    correlation_id: str | None
    result: NotRequired[object]  # a ScoreResult, a list of them, or an entry script's value
    model: NotRequired[str]  # name:version that scored it
    error: NotRequired[object]
    status: NotRequired[int]


class ModelDescription(TypedDict):
    """Reported ``model`` and ``/health``'s ``model``: what serves (``SentimentService.describe``)."""

    backend: str  # "onnx" or "entry-script"
    entry_script: NotRequired[str]
    model: NotRequired[str]  # name:version
    sha256: NotRequired[str]
    source_sha256: NotRequired[str]
    converter: NotRequired[str]
    quantization: NotRequired[str | None]


class ThresholdsJSON(TypedDict):
    negative: float
    positive: float


class CaptureSettingsJSON(TypedDict):
    enabled: bool
    sample_rate: float
    max_bytes: int
    max_files: int


class AppliedSettings(TypedDict, total=False):
    """Reported ``settings``: the desired properties that were applied."""

    thresholds: ThresholdsJSON
    include_neutral: bool
    max_batch: int
    max_batch_delay_ms: float
    capture: CaptureSettingsJSON


class LatencyPercentiles(TypedDict):
    p50_ms: float | None
    p99_ms: float | None


class DriftSummary(TypedDict):
    enabled: bool
    captured: int
    score_histogram: dict[str, int]
    oov_rate: float | None
    neutral_share: float | None


class DesiredModelJSON(TypedDict):
    """The twin's desired ``model``, as ``edgeship model publish --json`` prints it."""

    name: str
    version: int
    sha256: str
    uri: str


class UpdateStatus(TypedDict):
    """Reported ``model_update`` (and ``status.json`` without IoT Hub): every key, None until set."""

    state: str | None
    name: str | None
    version: int | None
    sha256: str | None
    uri: str | None
    reason: str | None
    requested_at: str | None
    downloading_at: str | None
    verifying_at: str | None
    applied_at: str | None
    rejected_at: str | None
    seconds: float | None
    parity_max_abs_diff: float | None


class ParitySample(TypedDict):
    """``model.json``'s ``parity_sample`` once checked: texts with the scores the packager's run gave them."""

    texts: list[str]
    scores: list[float]
    max_abs_diff: float


class ReportedProperties(TypedDict, total=False):
    """The IoT Hub face's reported properties (each patch carries the state plus what changed)."""

    status: str
    model: ModelDescription
    messages: int
    errors: int
    latency: LatencyPercentiles
    drift: DriftSummary
    model_update: UpdateStatus
    settings: AppliedSettings
    settings_error: str | None
    settings_version: JSONValue
