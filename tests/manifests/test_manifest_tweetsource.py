"""The tweet source module's replay logic (its real-SDK run is covered by the demo)."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def replay(repo_root: Path) -> ModuleType:
    path = repo_root / "modules" / "tweetsource" / "replay.py"
    spec = importlib.util.spec_from_file_location("tweetsource_replay", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_bundled_tweets_load(replay: ModuleType, repo_root: Path) -> None:
    tweets = replay.load_tweets(repo_root / "modules" / "tweetsource" / "tweets.jsonl")
    assert len(tweets) == 20
    assert tweets[0].body() == {"text": tweets[0].text, "id": "demo-001", "label": "POSITIVE"}
    assert {t.label for t in tweets} == {"POSITIVE", "NEGATIVE", "NEUTRAL"}


def test_bad_tweet_files(replay: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "ok"}\nnot json\n', encoding="utf-8")
    with pytest.raises(replay.ReplayError, match=r"t.jsonl:2: not JSON"):
        replay.load_tweets(path)
    path.write_text('{"id": 1}\n', encoding="utf-8")
    with pytest.raises(replay.ReplayError, match="string 'text'"):
        replay.load_tweets(path)
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(replay.ReplayError, match="no tweets"):
        replay.load_tweets(path)


def test_sends_in_order_once_without_loop(replay: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps({"id": str(i), "text": f"t{i}"}) for i in range(5)), encoding="utf-8")
    sent: list[str] = []
    replayer = replay.Replayer(
        replay.load_tweets(path), replay.ReplaySettings(1000.0, loop=False), lambda tweet: sent.append(tweet.id)
    )
    assert replayer.run() == 5
    assert sent == ["0", "1", "2", "3", "4"]


def test_paces_by_rate_with_a_fake_clock(replay: ModuleType) -> None:
    now = [0.0]
    times: list[float] = []
    tweets = [replay.Tweet(str(i), "x", None) for i in range(4)]

    def send(tweet: object) -> None:
        times.append(now[0])

    class Clock:
        def __call__(self) -> float:
            return now[0]

    replayer = replay.Replayer(tweets, replay.ReplaySettings(2.0, loop=False), send, clock=Clock())
    # The stop event's wait is the pacing: make it advance the fake clock instead of blocking.
    original_wait = replayer.stop_event.wait

    def wait(timeout: float | None = None) -> bool:
        now[0] += timeout or 0.0
        return bool(original_wait(0))

    replayer.stop_event.wait = wait
    replayer.run()
    assert times == [0.0, 0.5, 1.0, 1.5]


def test_loop_until_stopped_and_settings_change(replay: ModuleType) -> None:
    tweets = [replay.Tweet(str(i), "x", None) for i in range(3)]
    enough = threading.Event()
    sent: list[str] = []

    def send(tweet: object) -> None:
        sent.append(tweet.id)  # type: ignore[attr-defined]
        if len(sent) == 7:
            enough.set()

    replayer = replay.Replayer(tweets, replay.ReplaySettings(1000.0, loop=True), send)
    worker = threading.Thread(target=replayer.run)
    worker.start()
    assert enough.wait(10)
    replayer.apply({"rate_per_sec": 0.001})  # next send is far away: stop must still end it at once
    replayer.stop()
    worker.join(5)
    assert not worker.is_alive()
    assert sent[:7] == ["0", "1", "2", "0", "1", "2", "0"]


def test_desired_properties_are_checked(replay: ModuleType) -> None:
    settings = replay.ReplaySettings()
    assert settings.updated({"rate_per_sec": 5, "loop": False, "$version": 3}) == replay.ReplaySettings(5.0, False)
    for bad in ({"rate_per_sec": 0}, {"rate_per_sec": "fast"}, {"rate_per_sec": True}, {"loop": "yes"}):
        with pytest.raises(replay.ReplayError):
            settings.updated(bad)


def test_a_dropped_connection_delays_a_tweet_not_the_replay(replay: ModuleType) -> None:
    class DroppedError(Exception):
        pass

    attempts: list[str] = []
    waits: list[float] = []

    def flaky_send(tweet: object) -> None:
        attempts.append(tweet.id)  # type: ignore[attr-defined]
        if len(attempts) in (2, 3):  # the second tweet's first two sends meet a reconnecting client
            raise DroppedError

    class RecordingStop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(float(timeout or 0))
            return False

    tweets = [replay.Tweet(f"t{i}", f"text {i}", None) for i in range(3)]
    send = replay.retrying(flaky_send, (DroppedError,), RecordingStop(), first_delay=0.1, max_delay=0.15)
    for tweet in tweets:
        send(tweet)
    assert attempts == ["t0", "t1", "t1", "t1", "t2"]
    assert waits == [0.1, 0.15]  # doubling, capped

    stopped = threading.Event()
    stopped.set()
    calls: list[int] = []

    def always_down(tweet: object) -> None:
        calls.append(1)
        raise DroppedError

    replay.retrying(always_down, (DroppedError,), stopped)(tweets[0])  # returns once stopping, no hang
    assert calls == [1]
    with pytest.raises(ValueError, match="other"):  # anything else still surfaces
        replay.retrying(lambda _: (_ for _ in ()).throw(ValueError("other")), (DroppedError,), stopped)(tweets[0])
