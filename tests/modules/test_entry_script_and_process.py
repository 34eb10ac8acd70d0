"""Hosting a seed-style entry script, and the module as a real process (start, serve, SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import pytest
import requests

from edgeship_sentiment.errors import ModelLoadError
from edgeship_sentiment.service import SentimentService
from tests.support.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]

# The seed's score.py, with its model loading pointed at the ONNX folder (TensorFlow never ships
# in the module); init()/run()/decode_sentiment()/predict() keep the seed's structure and names.
SEED_STYLE_SCRIPT = """
import os
import json
import time

from edgeship_sentiment.model import load_model_folder
from edgeship_sentiment.scorer import Scorer

POSITIVE = "POSITIVE"
NEGATIVE = "NEGATIVE"
NEUTRAL = "NEUTRAL"
SENTIMENT_THRESHOLDS = (0.4, 0.7)
SEQUENCE_LENGTH = 300

def init():
    global model
    model_path = os.path.join(os.getenv('AZUREML_MODEL_DIR'), './models')
    model = Scorer(load_model_folder(__import__('pathlib').Path(model_path)))

def run(data):
    try:
        data = json.loads(data)
        prediction = predict(data['text'])
        return prediction
    except Exception as e:
        error = str(e)
        return error

def decode_sentiment(score, include_neutral=True):
    if include_neutral:
        label = NEUTRAL
        if score <= SENTIMENT_THRESHOLDS[0]:
            label = NEGATIVE
        elif score >= SENTIMENT_THRESHOLDS[1]:
            label = POSITIVE
        return label
    else:
        return NEGATIVE if score < 0.5 else POSITIVE

def predict(text, include_neutral=True):
    start_at = time.time()
    score = model.raw_scores([text])[0]
    label = decode_sentiment(score, include_neutral=include_neutral)
    return {"label": label, "score": float(score),
       "elapsed_time": time.time()-start_at}
"""


@pytest.fixture
def azureml_dir(packaged_model_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "azureml-models"
    (root / "models").mkdir(parents=True)
    for path in packaged_model_dir.iterdir():
        (root / "models" / path.name).write_bytes(path.read_bytes())
    return root


def test_entry_script_hosted_unmodified(azureml_dir: Path, tmp_path: Path, packaged_model_dir: Path) -> None:
    script = tmp_path / "score.py"
    script.write_text(SEED_STYLE_SCRIPT)
    service = SentimentService(azureml_dir, entry_script=script, capture_dir=tmp_path / "cap")
    reply = service.handle(json.dumps({"text": "Today is a great day!"}), "http")
    payload: Any = reply.payload  # JSON, read by key
    assert reply.status == 200
    assert set(payload) == {"label", "score", "elapsed_time"}
    onnx_service = SentimentService(packaged_model_dir, capture_dir=tmp_path / "cap2")
    assert payload["score"] == pytest.approx(
        cast(Any, onnx_service.handle(json.dumps({"text": "Today is a great day!"}), "http").payload)["score"], abs=1e-6
    )
    # The seed's run() turns errors into a string: hosted as-is, that string is the reply.
    assert cast(str, service.handle("not json", "http").payload).startswith("Expecting value")
    assert service.handle(b"\xff", "http").status == 400
    onnx_service.close()
    service.close()


def test_entry_script_errors_are_clear(tmp_path: Path, azureml_dir: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def init():\n    raise RuntimeError('no model here')\ndef run(d):\n    return d\n")
    with pytest.raises(ModelLoadError, match=r"init\(\) failed: RuntimeError: no model here"):
        SentimentService(azureml_dir, entry_script=broken)
    missing_run = tmp_path / "norun.py"
    missing_run.write_text("def init():\n    pass\n")
    with pytest.raises(ModelLoadError, match=r"has no run\(\) function"):
        SentimentService(azureml_dir, entry_script=missing_run)


def test_module_process_serves_and_stops_cleanly_on_sigterm(packaged_model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTEDGE_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-u",
            "main.py",
            "--model-dir",
            str(packaged_model_dir),
            "--http",
            f"127.0.0.1:{port}",
            "--capture-dir",
            str(tmp_path / "cap"),
        ],
        cwd=REPO / "modules" / "sentiment",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        for line in process.stdout:  # the module logs "ready" once every face is up
            if "ready:" in line or time.monotonic() > deadline:
                break
        response = requests.post(f"http://127.0.0.1:{port}/score", json={"text": "hello there"}, timeout=10)
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_module_without_a_face_exits_1_with_one_line(packaged_model_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTEDGE_") and k != "HTTP_BIND"}
    result = subprocess.run(
        [sys.executable, "main.py", "--model-dir", str(packaged_model_dir)],
        cwd=REPO / "modules" / "sentiment",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "error: no face to serve: give --http HOST:PORT, --mqtt URL, or run under IoT Edge"


@pytest.mark.parametrize(
    ("variable", "value", "code", "message"),
    [
        ("MAX_BATCH", "abc", 2, "edgeship-sentiment: error: argument --max-batch: invalid int value: 'abc'"),
        (
            "MAX_BATCH_DELAY_MS",
            "soon",
            2,
            "edgeship-sentiment: error: argument --max-batch-delay-ms: invalid float value: 'soon'",
        ),
        ("SEND_WINDOW", "many", 2, "edgeship-sentiment: error: argument --send-window: invalid int value: 'many'"),
        ("SEND_WINDOW", "0", 1, "error: --send-window (SEND_WINDOW) must be 1-64, got 0"),
        ("REPORT_INTERVAL", "x", 2, "edgeship-sentiment: error: argument --report-interval: invalid float value: 'x'"),
    ],
)
def test_bad_settings_in_the_environment_are_one_line(
    packaged_model_dir: Path, variable: str, value: str, code: int, message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTEDGE_")}
    env[variable] = value
    result = subprocess.run(
        [sys.executable, "main.py", "--model-dir", str(packaged_model_dir), "--http", "127.0.0.1:0"],
        cwd=REPO / "modules" / "sentiment",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == code
    assert result.stderr.strip().splitlines()[-1] == message
    assert "Traceback" not in result.stderr
