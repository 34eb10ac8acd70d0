"""Replay demo tweets at a steady rate: the part of the tweet source that has no SDK in it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_RATE = 1.0
MAX_RATE = 1000.0


class ReplayError(Exception):
    """A tweets file or a desired property the module cannot use; the message is one line."""


@dataclass(frozen=True)
class Tweet:
    id: str
    text: str
    label: str | None

    def body(self) -> dict[str, Any]:
        return {"text": self.text, "id": self.id, "label": self.label}


@dataclass(frozen=True)
class ReplaySettings:
    rate_per_sec: float = DEFAULT_RATE
    loop: bool = True

    def updated(self, desired: Mapping[str, Any]) -> ReplaySettings:
        """Apply desired properties (a full twin or a patch); a bad value raises and changes nothing."""
        rate, loop = self.rate_per_sec, self.loop
        if "rate_per_sec" in desired:
            value = desired["rate_per_sec"]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_RATE:
                raise ReplayError(f"rate_per_sec must be a number in (0, {MAX_RATE:g}], got {value!r}")
            rate = float(value)
        if "loop" in desired:
            if not isinstance(desired["loop"], bool):
                raise ReplayError(f"loop must be true or false, got {desired['loop']!r}")
            loop = desired["loop"]
        return ReplaySettings(rate, loop)


def load_tweets(path: Path) -> list[Tweet]:
    """One JSON object per line with ``text`` (required), ``id`` and ``label``; blank lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ReplayError(f"cannot read {path}: {exc.strerror or exc}") from None
    tweets: list[Tweet] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReplayError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ReplayError(f"{path}:{number}: expected an object with a string 'text'")
        label = record.get("label")
        tweets.append(
            Tweet(
                str(record.get("id", f"{path.stem}-{number}")),
                record["text"],
                label if isinstance(label, str) else None,
            )
        )
    if not tweets:
        raise ReplayError(f"{path}: no tweets")
    return tweets


class Replayer:
    """Sends tweets one by one, paced by ``rate_per_sec``; settings may change while it runs."""

    def __init__(
        self,
        tweets: list[Tweet],
        settings: ReplaySettings,
        send: Callable[[Tweet], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tweets = tweets
        self.send = send
        self.clock = clock
        self.stop_event = threading.Event()
        self.sent = 0
        self._settings = settings
        self._lock = threading.Lock()

    @property
    def settings(self) -> ReplaySettings:
        with self._lock:
            return self._settings

    def apply(self, desired: Mapping[str, Any]) -> ReplaySettings:
        with self._lock:
            self._settings = self._settings.updated(desired)
            return self._settings

    def stop(self) -> None:
        self.stop_event.set()

    def _order(self) -> Iterator[Tweet]:
        while True:
            yield from self.tweets
            if not self.settings.loop:
                return

    def run(self) -> int:
        """Send until the file is done (loop off) or ``stop()``; returns how many were sent."""
        due = self.clock()
        for tweet in self._order():
            # Waiting on the stop event (not sleeping) is what makes SIGTERM end the module at once.
            if self.stop_event.wait(max(0.0, due - self.clock())):
                break
            self.send(tweet)
            self.sent += 1
            due = max(due + 1.0 / self.settings.rate_per_sec, self.clock() - 1.0)  # no burst after a stall
        return self.sent


def retrying(
    send: Callable[[Tweet], None],
    retryable: tuple[type[BaseException], ...],
    stop: threading.Event,
    *,
    first_delay: float = 0.1,
    max_delay: float = 5.0,
    on_retry: Callable[[Tweet, BaseException, float], None] = lambda *_: None,
) -> Callable[[Tweet], None]:
    """Wrap ``send`` so a dropped connection delays a tweet instead of ending the replay.

    The SDK raises (``NoConnectionError`` ...) when a send starts while it reconnects; the wrapped
    send waits (doubling, up to ``max_delay``) and tries again until it succeeds or ``stop`` is set.
    """

    def send_retrying(tweet: Tweet) -> None:
        delay = first_delay
        while True:
            try:
                send(tweet)
                return
            except retryable as exc:
                on_retry(tweet, exc, delay)
                if stop.wait(delay):  # stopping: this tweet stays unsent, as any after it
                    return
                delay = min(delay * 2, max_delay)

    return send_retrying
