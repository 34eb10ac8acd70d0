"""Apply desired ``model`` properties one at a time on a worker thread, reporting every step.

The twin's patch handler only hands the value over (a download must not hold up the SDK's
handler thread); a newer value replaces one not yet started. Nothing here can stop the
running model from serving: every failure is a ``rejected`` report with its reason.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypedDict, TypeVar

from edgeship_sentiment.errors import ModelLoadError, ModelUpdateError, SentimentModuleError
from edgeship_sentiment.jsontypes import UpdateStatus
from edgeship_sentiment.model import load_model_folder
from edgeship_sentiment.model_update.checks import check_parity_sample, load_engine, load_package
from edgeship_sentiment.model_update.desired import DesiredModel, parse_desired_model
from edgeship_sentiment.model_update.fetch import fetch
from edgeship_sentiment.model_update.state import UpdateState
from edgeship_sentiment.model_update.store import ModelStore
from edgeship_sentiment.model_update.unpack import safe_unpack
from edgeship_sentiment.scorer import Engine, Scorer

log = logging.getLogger("edgeship_sentiment.model_update")
MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
DOWNLOAD_TIMEOUT = 120.0
UNPACK_FACTOR = 4  # an archive of model files compresses far less than this
STATUS_KEYS = (
    "state",
    "name",
    "version",
    "sha256",
    "uri",
    "reason",
    "requested_at",
    "downloading_at",
    "verifying_at",
    "applied_at",
    "rejected_at",
    "seconds",
    "parity_max_abs_diff",
)
Number = TypeVar("Number", int, float)


class Limits(TypedDict, total=False):
    """``ModelUpdater``'s keyword arguments set from the environment."""

    max_bytes: int
    timeout: float


def _positive(variable: str, kind: type[Number]) -> Number | None:
    import os

    raw = os.environ.get(variable)
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise SentimentModuleError(f"{variable} must be a positive number, got {raw!r}") from None
    if value <= 0:
        raise SentimentModuleError(f"{variable} must be a positive number, got {raw!r}")
    return value


def limits_from_environment() -> Limits:
    """``MODEL_MAX_BYTES`` and ``MODEL_DOWNLOAD_TIMEOUT`` (seconds), for a device's link and disk."""
    limits: Limits = {}
    max_bytes = _positive("MODEL_MAX_BYTES", int)
    if max_bytes is not None:
        limits["max_bytes"] = max_bytes
    timeout = _positive("MODEL_DOWNLOAD_TIMEOUT", float)
    if timeout is not None:
        limits["timeout"] = timeout
    return limits


def blank_status() -> UpdateStatus:
    """Every ``STATUS_KEYS`` key, None: a status names each step's time only once it happened."""
    return {
        "state": None,
        "name": None,
        "version": None,
        "sha256": None,
        "uri": None,
        "reason": None,
        "requested_at": None,
        "downloading_at": None,
        "verifying_at": None,
        "applied_at": None,
        "rejected_at": None,
        "seconds": None,
        "parity_max_abs_diff": None,
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ModelUpdater:
    def __init__(
        self,
        scorer: Scorer,
        store: ModelStore,
        *,
        report: Callable[[UpdateStatus], None],
        on_swap: Callable[[Engine], None] = lambda engine: None,
        max_bytes: int = MAX_DOWNLOAD_BYTES,
        timeout: float = DOWNLOAD_TIMEOUT,
    ) -> None:
        self.scorer = scorer
        self.store = store
        self.report = report
        self.on_swap = on_swap
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.current: DesiredModel | None = None  # None: the baked-in model
        self.status: UpdateStatus = blank_status()
        self.status["state"] = UpdateState.BAKED_IN
        self._pending: DesiredModel | None = None
        self._wake = threading.Condition()
        self._closed = False
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="model-update", daemon=True)

    # ---- start ------------------------------------------------------------------------
    def restore(self) -> bool:
        """Serve the last applied model if the store has one that still loads and passes its sample."""
        found = self.store.current()
        if found is None:
            return False
        desired, folder = found
        try:
            model = load_model_folder(folder)
            engine = load_engine(model, self.scorer.intra_op_threads, self.scorer.use_padding_skip)
            check_parity_sample(engine)
        except (ModelLoadError, ModelUpdateError) as exc:
            log.warning("the stored model %s does not load (%s): serving the baked-in model", desired.ref, exc)
            return False
        self.scorer.swap(engine)
        self.on_swap(engine)
        self.current = desired
        self.status = {
            **blank_status(),
            **desired.to_json(),
            "state": UpdateState.APPLIED,
            "applied_at": _now(),
            "reason": "restored from the model store",
        }
        log.info("serving %s from %s", desired.ref, folder)
        return True

    def start(self) -> ModelUpdater:
        self._thread.start()
        return self

    def close(self, timeout: float = 30.0) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self._thread.join(timeout)

    # ---- requests ---------------------------------------------------------------------
    def request(self, value: object) -> None:
        """Take a desired ``model`` value (from a twin patch); returns at once."""
        try:
            desired = parse_desired_model(value)
        except ModelUpdateError as exc:
            self._set(
                {
                    **blank_status(),
                    "state": UpdateState.REJECTED,
                    "reason": str(exc),
                    "requested_at": _now(),
                    "rejected_at": _now(),
                }
            )
            return
        with self._wake:
            if desired == self.current and self._pending is None:
                return  # a twin resent at reconnect asks for what already serves
            self._pending = desired
            self._idle.clear()
            self._wake.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                desired, self._pending = self._pending, None
            assert desired is not None
            try:
                self._apply(desired)
            except Exception as exc:
                # The worker must outlive any update (a bug, a full disk, onnxruntime...): it is
                # reported as rejected and the old model serves on.
                log.exception("model update %s failed", desired.ref)
                self._set(
                    {
                        **self.status,
                        "state": UpdateState.REJECTED,
                        "reason": f"internal error: {exc}",
                        "rejected_at": _now(),
                    }
                )
            with self._wake:
                if self._pending is None:
                    self._idle.set()

    # ---- the steps --------------------------------------------------------------------
    def _apply(self, desired: DesiredModel) -> None:
        started = time.perf_counter()
        status: UpdateStatus = {
            **blank_status(),
            **desired.to_json(),
            "state": UpdateState.DOWNLOADING,
            "requested_at": _now(),
        }
        status["downloading_at"] = status["requested_at"]
        self._set(status)
        staging = None
        try:
            staging = self.store.staging()
            archive = staging / "model.tar.gz"
            digest = fetch(desired.uri, archive, max_bytes=self.max_bytes, timeout=self.timeout)
            status = {**status, "state": UpdateState.VERIFYING, "verifying_at": _now()}
            self._set(status)
            if digest != desired.sha256:
                raise ModelUpdateError(f"sha256 mismatch: the download is {digest}, the twin says {desired.sha256}")
            unpacked = staging / "model"
            safe_unpack(archive, unpacked, max_bytes=self.max_bytes * UNPACK_FACTOR)
            load_package(unpacked, desired, self.scorer.model.spec)  # refuse before anything moves
            folder = self.store.install(unpacked, desired)
            model = load_package(folder, desired, self.scorer.model.spec)
            engine = load_engine(model, self.scorer.intra_op_threads, self.scorer.use_padding_skip)
            worst = check_parity_sample(engine)
        except ModelUpdateError as exc:
            log.error("model update %s rejected: %s", desired.ref, exc)
            self._set(
                {
                    **status,
                    "state": UpdateState.REJECTED,
                    "reason": str(exc),
                    "rejected_at": _now(),
                    "seconds": round(time.perf_counter() - started, 3),
                }
            )
            return
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        self.scorer.swap(engine)  # between two batches: each batch reads the engine once
        self.on_swap(engine)
        previous, self.current = self.current, desired
        try:
            self.store.commit(desired, previous)
        except OSError as exc:  # serving the new model; only a restart would fall back
            log.warning("the model store could not record %s: %s", desired.ref, exc)
        log.info("model %s applied in %.2f s", desired.ref, time.perf_counter() - started)
        self._set(
            {
                **status,
                "state": UpdateState.APPLIED,
                "applied_at": _now(),
                "parity_max_abs_diff": worst,
                "seconds": round(time.perf_counter() - started, 3),
            }
        )

    def _set(self, status: UpdateStatus) -> None:
        self.status = status
        try:
            self.report(status.copy())
        except Exception as exc:  # noqa: BLE001 - ``report`` is the face's (the SDK's errors, a file's); a report
            # lost to a reconnect is sent again with the next one, and the update goes on
            log.warning("reporting model_update failed: %s", exc)
