"""``python -m edgeship_sentiment`` (and ``main.py``): start the faces, stop cleanly on SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

from edgeship_sentiment.errors import SentimentModuleError

log = logging.getLogger("edgeship_sentiment")


def run(argv: list[str] | None = None) -> int:
    from edgeship_sentiment.config import load_config
    from edgeship_sentiment.service import SentimentService

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The SDK logs two INFO lines per message sent or received: at hundreds of messages a second
    # that was a tenth of the module's CPU (py-spy, bench_e2e) and a log file growing with traffic.
    sdk_level = os.environ.get("SDK_LOG_LEVEL", "WARNING").upper()
    for name in ("azure.iot.device", "paho"):
        logging.getLogger(name).setLevel(sdk_level if sdk_level in logging.getLevelNamesMapping() else "WARNING")
    config = load_config(argv)
    from edgeship_sentiment import workers

    if config.workers > 1 and config.http and not os.environ.get(workers.FD_VARIABLE):
        return workers.run_workers(config.workers, *config.http, sys.argv[1:] if argv is None else argv)
    service = SentimentService(
        config.model_dir, entry_script=config.entry_script, batch=config.batch, capture_dir=config.capture_dir
    )
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    stoppers: list[Callable[[], None]] = []
    if config.http:
        from edgeship_sentiment.http_face import SentimentHTTPServer

        http = SentimentHTTPServer(service, *config.http, sock=workers.inherited_socket())
        http.start_background()
        workers.tell_parent_ready()
        log.info("HTTP scoring endpoint at %s/score", http.url)
        stoppers.append(http.shutdown)
    if config.mqtt_url:
        from edgeship_sentiment.mqtt_face import MqttFace, MqttSettings

        mqtt = MqttFace(
            service,
            MqttSettings(
                url=config.mqtt_url,
                request_topic=config.mqtt_request_topic,
                response_topic=config.mqtt_response_topic,
                client_id=config.mqtt_client_id,
                username=config.mqtt_username,
                password=config.mqtt_password,
                ca_file=config.mqtt_ca_file,
            ),
        ).start()
        log.info("MQTT face: %s -> %s on %s", config.mqtt_request_topic, config.mqtt_response_topic, config.mqtt_url)
        stoppers.append(mqtt.stop)
    if config.iothub:
        from edgeship_sentiment.iothub_face import IoTHubFace, create_edge_client

        iothub = IoTHubFace(
            service, create_edge_client(), report_interval=config.report_interval, send_window=config.send_window
        ).start()
        log.info("IoT Edge face connected")
        stoppers.append(iothub.stop)
    if not config.iothub:  # with IoT Hub the twin's "model" drives updates (iothub_face.py)
        from edgeship_sentiment.model_update.local import install_local_updates

        local_updates = install_local_updates(service)
        if local_updates is not None:
            stoppers.insert(0, local_updates.close)
    log.info("ready: %s", service.describe())
    stop.wait()
    log.info("stopping: finishing in-flight requests")
    for stopper in reversed(stoppers):
        stopper()
    service.close()
    return 0


def main(argv: list[str] | None = None) -> None:
    try:
        sys.exit(run(argv))
    except SentimentModuleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
