"""Model updates for a module without IoT Hub (``edgeship service update`` on a LOCAL service).

No new HTTP route: the caller writes the desired ``model`` value to ``<store>/desired.json`` and
sends SIGHUP; the module applies it exactly as a twin patch, and writes each step's status to
``<store>/status.json`` (replaced by rename, so a reader never sees half of one).
"""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path
from types import FrameType
from typing import Protocol

from edgeship_sentiment.jsontypes import JSONValue, ModelDescription, UpdateStatus
from edgeship_sentiment.model import ModelFolder
from edgeship_sentiment.model_update.state import UpdateState
from edgeship_sentiment.model_update.store import ModelStore
from edgeship_sentiment.model_update.updater import ModelUpdater, limits_from_environment
from edgeship_sentiment.scorer import Engine, Scorer

log = logging.getLogger("edgeship_sentiment.model_update")
DESIRED = "desired.json"
STATUS = "status.json"


class Served(Protocol):
    """What this needs of ``SentimentService`` (model_update does not import the service)."""

    scorer: Scorer | None
    model: ModelFolder | None

    def describe(self) -> ModelDescription: ...


def write_json_atomic(path: Path, data: object) -> None:
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def install_local_updates(service: Served) -> ModelUpdater | None:
    """Restore the stored model and apply ``desired.json`` on every SIGHUP (ONNX backend only)."""
    if service.scorer is None:
        return None
    store = ModelStore.from_environment(Path("model-store"))

    def report(status: UpdateStatus) -> None:
        try:
            store.root.mkdir(parents=True, exist_ok=True)
            write_json_atomic(store.root / STATUS, {**status, "model": service.describe()})
        except OSError as exc:
            log.warning("cannot write %s: %s", store.root / STATUS, exc)

    def swapped(engine: Engine) -> None:
        service.model = engine.model  # /health and describe() name what now serves

    updater = ModelUpdater(service.scorer, store, report=report, on_swap=swapped, **limits_from_environment())
    updater.restore()
    updater.start()

    def on_hangup(signum: int, frame: FrameType | None) -> None:
        path = store.root / DESIRED
        try:
            value: JSONValue = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            report({**updater.status, "state": UpdateState.REJECTED, "reason": f"cannot read {path}: {exc}"})
            return
        updater.request(value.get("model") if isinstance(value, dict) and "model" in value else value)

    signal.signal(signal.SIGHUP, on_hangup)
    return updater
