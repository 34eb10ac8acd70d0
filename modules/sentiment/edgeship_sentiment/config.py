"""The module's typed configuration: command-line flags over environment variables over defaults."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from edgeship_sentiment.batcher import BatchSettings
from edgeship_sentiment.errors import SentimentModuleError
from edgeship_sentiment.hub_window import MAX_SEND_WINDOW
from edgeship_sentiment.model import resolve_model_dir

EDGE_VARIABLES = (
    "IOTEDGE_IOTHUBHOSTNAME",
    "IOTEDGE_DEVICEID",
    "IOTEDGE_MODULEID",
    "IOTEDGE_GATEWAYHOSTNAME",
    "IOTEDGE_MODULEGENERATIONID",
    "IOTEDGE_WORKLOADURI",
    "IOTEDGE_APIVERSION",
)


@dataclass(frozen=True)
class ModuleConfig:
    model_dir: Path
    entry_script: Path | None
    iothub: bool
    mqtt_url: str | None
    mqtt_request_topic: str
    mqtt_response_topic: str
    mqtt_client_id: str
    mqtt_username: str | None
    mqtt_password: str | None
    mqtt_ca_file: str | None
    http: tuple[str, int] | None
    batch: BatchSettings
    send_window: int
    report_interval: float
    capture_dir: Path
    workers: int = 1


def in_edge_environment() -> bool:
    return all(os.environ.get(name) for name in EDGE_VARIABLES) or bool(os.environ.get("EdgeHubConnectionString"))  # noqa: SIM112 - the SDK's name


def _bind(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise SentimentModuleError(f"--http takes HOST:PORT, got {text!r}")
    return host or "0.0.0.0", int(port)


def parser() -> argparse.ArgumentParser:
    # Defaults from the environment stay strings: argparse converts them with the option's type, so
    # MAX_BATCH=abc is the same one-line usage error (exit 2) as --max-batch abc, not a traceback.
    env = os.environ.get
    p = argparse.ArgumentParser(prog="edgeship-sentiment", description="The sentiment edge module.")
    p.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="model folder (default: $MODEL_DIR, $AZUREML_MODEL_DIR/models, ./model)",
    )
    p.add_argument(
        "--entry-script",
        type=Path,
        default=env("ENTRY_SCRIPT"),
        help="host an Azure ML entry script (init/run) instead of the ONNX scorer",
    )
    p.add_argument(
        "--iothub",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="IoT Edge face (default: on when the IOTEDGE_* environment is present)",
    )
    p.add_argument("--mqtt", dest="mqtt_url", default=env("MQTT_URL"), help="mqtt[s]://host:port of any broker")
    p.add_argument("--mqtt-request-topic", default=env("MQTT_REQUEST_TOPIC", "edgeship/sentiment/in"))
    p.add_argument("--mqtt-response-topic", default=env("MQTT_RESPONSE_TOPIC", "edgeship/sentiment/out"))
    p.add_argument("--mqtt-client-id", default=env("MQTT_CLIENT_ID", "edgeship-sentiment"))
    p.add_argument("--mqtt-username", default=env("MQTT_USERNAME"))
    p.add_argument("--mqtt-password", default=env("MQTT_PASSWORD"))
    p.add_argument("--mqtt-ca-file", default=env("MQTT_CA_FILE"))
    p.add_argument("--http", default=env("HTTP_BIND"), help="HOST:PORT for the HTTP scoring endpoint")
    p.add_argument("--max-batch", type=int, default=env("MAX_BATCH", "32"))
    p.add_argument("--max-batch-delay-ms", type=float, default=env("MAX_BATCH_DELAY_MS", "2"))
    p.add_argument(
        "--send-window",
        type=int,
        default=env("SEND_WINDOW", "1"),
        help="IoT Hub face: results in flight at once (1 keeps them in order)",
    )
    p.add_argument("--report-interval", type=float, default=env("REPORT_INTERVAL", "10"))
    p.add_argument("--capture-dir", type=Path, default=Path(env("CAPTURE_DIR", "capture")))
    p.add_argument(
        "--workers",
        type=int,
        default=env("WORKER_COUNT", "1"),
        help="HTTP worker processes sharing the port, each loading the model or script (azmlinfsrv's WORKER_COUNT)",
    )
    return p


def load_config(argv: list[str] | None = None) -> ModuleConfig:
    args = parser().parse_args(argv)
    iothub = args.iothub if args.iothub is not None else in_edge_environment()
    http = _bind(args.http) if args.http else None
    if not (iothub or args.mqtt_url or http):
        raise SentimentModuleError("no face to serve: give --http HOST:PORT, --mqtt URL, or run under IoT Edge")
    if not 1 <= args.workers <= 64:
        raise SentimentModuleError(f"--workers (WORKER_COUNT) must be 1-64, got {args.workers}")
    if args.workers > 1 and (iothub or args.mqtt_url or not http):
        raise SentimentModuleError(
            "--workers (WORKER_COUNT) above 1 serves the HTTP face only: "
            "each worker would connect to IoT Hub or the broker again"
        )
    if not 1 <= args.send_window <= MAX_SEND_WINDOW:
        raise SentimentModuleError(f"--send-window (SEND_WINDOW) must be 1-{MAX_SEND_WINDOW}, got {args.send_window}")
    entry_script = args.entry_script
    model_dir = resolve_model_dir(args.model_dir)
    return ModuleConfig(
        model_dir=model_dir,
        entry_script=Path(entry_script) if entry_script else None,
        iothub=iothub,
        mqtt_url=args.mqtt_url,
        mqtt_request_topic=args.mqtt_request_topic,
        mqtt_response_topic=args.mqtt_response_topic,
        mqtt_client_id=args.mqtt_client_id,
        mqtt_username=args.mqtt_username,
        mqtt_password=args.mqtt_password,
        mqtt_ca_file=args.mqtt_ca_file,
        http=http,
        batch=BatchSettings(args.max_batch, args.max_batch_delay_ms).validated(),
        send_window=args.send_window,
        report_interval=args.report_interval,
        capture_dir=args.capture_dir,
        workers=args.workers,
    )
