"""Held-out text for the parity gate: JSON lines (``text`` and optional ``label``) or plain lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgeship.errors import PackagingError

# Used only when no held-out set is given or shipped: the gate still compares scores and labels.
PROBE_TEXTS = (
    "Today is a great day!",
    "I hate waiting in line, worst service ever",
    "not sure how I feel about this",
    "love love love this song",
    "the flight was delayed again. terrible.",
    "",
    "   ",
    "ok",
    "What a wonderful surprise, thank you so much!!!",
    "this is the most boring movie I have ever seen",
)


@dataclass(frozen=True)
class HeldoutSet:
    texts: tuple[str, ...]
    labels: tuple[str, ...] | None  # ground truth, when every line has one
    source: str


def read_heldout(path: Path) -> HeldoutSet:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PackagingError(f"cannot read held-out file {path}: {exc}") from exc
    texts: list[str] = []
    labels: list[str | None] = []
    jsonl = path.suffix in (".jsonl", ".json", ".ndjson")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if jsonl:
            try:
                row = json.loads(line)
            except ValueError:
                raise PackagingError(f"{path}:{number}: not a JSON object") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise PackagingError(f"{path}:{number}: expected an object with a string 'text'")
            texts.append(row["text"])
            label = row.get("label")
            labels.append(str(label) if label is not None else None)
        else:
            texts.append(line)
            labels.append(None)
    if not texts:
        raise PackagingError(f"held-out file {path} holds no text")
    complete = all(label is not None for label in labels)
    return HeldoutSet(tuple(texts), tuple(str(label) for label in labels) if complete else None, str(path))


def probe_set() -> HeldoutSet:
    return HeldoutSet(PROBE_TEXTS, None, "built-in probe texts (no labels)")
