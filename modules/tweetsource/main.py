"""The tweet source edge module: replays ``TWEETS_FILE`` (default: the bundled ``tweets.jsonl``) as
messages on output ``tweets``, paced by the desired properties ``rate_per_sec`` and ``loop``.

Runs where the IoT Edge runtime (or edgeship's simulator) started it: ``python -u main.py``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from azure.iot.device import IoTHubModuleClient, Message
from azure.iot.device.exceptions import ConnectionDroppedError, NoConnectionError, OperationTimeout
from replay import Replayer, ReplayError, ReplaySettings, Tweet, load_tweets, retrying

OUTPUT = "tweets"
log = logging.getLogger("tweetsource")


def to_message(tweet: Tweet) -> Message:
    message = Message(
        json.dumps(tweet.body()),
        message_id=tweet.id,
        content_encoding="utf-8",  # type: ignore[no-untyped-call]
        content_type="application/json",
        output_name=OUTPUT,
    )
    message.custom_properties["source"] = "tweetsource"
    return message


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s tweetsource %(levelname)s %(message)s")
    tweets_file = Path(os.environ.get("TWEETS_FILE") or Path(__file__).with_name("tweets.jsonl"))
    if not tweets_file.is_absolute():
        tweets_file = Path(__file__).parent / tweets_file
    try:
        tweets = load_tweets(tweets_file)
    except ReplayError as exc:
        log.error("%s", exc)
        return 1
    try:
        client = IoTHubModuleClient.create_from_edge_environment()
    except (OSError, ValueError) as exc:  # not started by an IoT Edge runtime (or the simulator)
        log.error("not in an IoT Edge environment: %s", exc)
        return 1

    def send(tweet: Tweet) -> None:
        client.send_message_to_output(to_message(tweet), OUTPUT)

    def on_retry(tweet: Tweet, exc: BaseException, delay: float) -> None:
        log.warning("sending %s failed (%s); again in %.1f s", tweet.id, type(exc).__name__, delay)

    replayer = Replayer(tweets, ReplaySettings(), send)
    replayer.send = retrying(
        send, (NoConnectionError, ConnectionDroppedError, OperationTimeout), replayer.stop_event, on_retry=on_retry
    )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        replayer.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def apply(desired: dict[str, Any]) -> None:
        try:
            settings = replayer.apply(desired)
        except ReplayError as exc:  # a bad patch is reported, never fatal
            log.warning("desired properties refused: %s", exc)
            client.patch_twin_reported_properties({"status": "error", "error": str(exc)})
            return
        client.patch_twin_reported_properties(
            {"status": "running", "rate_per_sec": settings.rate_per_sec, "loop": settings.loop, "tweets": len(tweets)}
        )

    try:
        client.connect()
        apply(client.get_twin().get("desired", {}))
        client.on_twin_desired_properties_patch_received = apply
        log.info("replaying %d tweets from %s on output %r", len(tweets), tweets_file, OUTPUT)
        sent = replayer.run()
        log.info("sent %d messages", sent)
        if not replayer.stop_event.is_set():  # loop off: stay up (a module that exits gets restarted)
            replayer.stop_event.wait()
    finally:
        client.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
