"""Input capture for drift (the seed's "collect input data"), off by default and always bounded.

When enabled, a sample of inputs with their scores is appended to ``capture/inputs.jsonl``;
the file rotates at ``max_bytes / max_files`` and at most ``max_files`` files are kept, so the
store never exceeds ``max_bytes``. A running summary (score histogram, share of words the
tokenizer does not know, share of NEUTRAL) goes to the twin's reported properties.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from edgeship_sentiment.errors import BadRequestError
from edgeship_sentiment.jsontypes import CaptureSettingsJSON, DriftSummary, ScoreResult
from edgeship_sentiment.tokenizer import KerasTokenizer

HISTOGRAM_BINS = 10


@dataclass(frozen=True)
class CaptureSettings:
    enabled: bool = False
    sample_rate: float = 1.0
    max_bytes: int = 10 * 1024 * 1024
    max_files: int = 4

    def validated(self) -> CaptureSettings:
        if not 0.0 <= self.sample_rate <= 1.0:
            raise BadRequestError("capture.sample_rate must be between 0 and 1")
        if not 1024 <= self.max_bytes <= 1024**3:
            raise BadRequestError("capture.max_bytes must be between 1 KiB and 1 GiB")
        if not 1 <= self.max_files <= 100:
            raise BadRequestError("capture.max_files must be between 1 and 100")
        return self

    def to_json(self) -> CaptureSettingsJSON:
        return {
            "enabled": self.enabled,
            "sample_rate": self.sample_rate,
            "max_bytes": self.max_bytes,
            "max_files": self.max_files,
        }


class InputCapture:
    def __init__(self, settings: CaptureSettings, folder: Path, tokenizer: KerasTokenizer | None) -> None:
        self.settings = settings.validated()
        self.folder = folder
        self.tokenizer = tokenizer
        self._lock = threading.Lock()
        self._random = random.Random(0)
        self.histogram = [0] * HISTOGRAM_BINS
        self.words = 0
        self.unknown_words = 0
        self.neutral = 0
        self.captured = 0

    def configure(self, desired: object) -> CaptureSettingsJSON:
        if not isinstance(desired, dict):
            raise BadRequestError("capture must be an object")
        known = {"enabled", "sample_rate", "max_bytes", "max_files"}
        unknown = sorted(set(desired) - known - {"$version"})
        if unknown:
            raise BadRequestError(f"unknown capture setting(s): {', '.join(unknown)}")
        current = asdict(self.settings)
        current.update({k: v for k, v in desired.items() if k in known})
        self.settings = CaptureSettings(**current).validated()
        return self.settings.to_json()

    def record(self, text: str, result: ScoreResult) -> None:
        settings = self.settings
        if not settings.enabled or self._random.random() >= settings.sample_rate:
            return
        score = float(result["score"])
        line = json.dumps({"time": time.time(), "text": text, "score": score, "label": result["label"]}) + "\n"
        with self._lock:
            self.captured += 1
            self.histogram[min(HISTOGRAM_BINS - 1, int(score * HISTOGRAM_BINS))] += 1
            if result["label"] == "NEUTRAL":
                self.neutral += 1
            if self.tokenizer is not None:
                words = self.tokenizer.words(text)
                self.words += len(words)
                self.unknown_words += sum(1 for w in words if w not in self.tokenizer.word_index)
            self._append(line.encode("utf-8"), settings)

    def _append(self, data: bytes, settings: CaptureSettings) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        current = self.folder / "inputs.jsonl"
        per_file = max(1, settings.max_bytes // settings.max_files)
        if current.exists() and current.stat().st_size + len(data) > per_file:
            for index in range(settings.max_files - 1, 0, -1):
                older = self.folder / f"inputs.{index}.jsonl"
                newer = self.folder / ("inputs.jsonl" if index == 1 else f"inputs.{index - 1}.jsonl")
                if newer.exists():
                    newer.replace(older)
            for stale in self.folder.glob("inputs.*.jsonl"):
                suffix = stale.name.split(".")[1]
                if suffix.isdigit() and int(suffix) >= settings.max_files:
                    stale.unlink()
            if settings.max_files == 1:
                current.unlink(missing_ok=True)
        if len(data) <= per_file:
            with current.open("ab") as handle:
                handle.write(data)

    def summary(self) -> DriftSummary:
        with self._lock:
            return {
                "enabled": self.settings.enabled,
                "captured": self.captured,
                "score_histogram": {f"b{i}": count for i, count in enumerate(self.histogram)},
                "oov_rate": round(self.unknown_words / self.words, 4) if self.words else None,
                "neutral_share": round(self.neutral / self.captured, 4) if self.captured else None,
            }

    def stored_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.glob("inputs*.jsonl")) if self.folder.exists() else 0

    def close(self) -> None:
        """Nothing is buffered: every record is written when it is taken."""
