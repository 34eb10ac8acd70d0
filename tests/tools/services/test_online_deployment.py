"""`edgeship deploy -f deployment.yml`: an Azure ML v2 managed online deployment, run locally."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from edgeship.errors import ConfigError
from edgeship.services.online_deployment import load_online_deployment

# The shape of Azure ML's own v2 examples (endpoints/online/managed/sample/blue-deployment.yml).
DEPLOYMENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: my-endpoint
model:
  path: ./model/
code_configuration:
  code: ./onlinescoring/
  scoring_script: score.py
environment:
  conda_file: ./environment/conda.yaml
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest
environment_variables:
  GREETING: hello
  RETRIES: 3
  VERBOSE: true
request_settings:
  request_timeout_ms: 4000
  max_concurrent_requests_per_instance: 1
instance_type: Standard_DS3_v2
instance_count: 1
liveness_probe:
  initial_delay: 10
"""

SCRIPT = """
import json
import os

def init():
    global weights
    # v2 samples read the model as os.path.join(AZUREML_MODEL_DIR, "<the folder's name>/<file>")
    with open(os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model/weights.txt")) as handle:
        weights = handle.read().strip()

def run(raw_data):
    data = json.loads(raw_data)
    return {"weights": weights, "text": data["text"], "greeting": os.environ["GREETING"],
            "retries": os.environ["RETRIES"], "verbose": os.environ["VERBOSE"],
            "timeout": os.environ.get("SCORING_TIMEOUT_MS")}
"""

CONDA = "name: env\ndependencies:\n- python=3.11\n- pip:\n  - numpy\n"


def project(tmp_path: Path, deployment: str = DEPLOYMENT) -> Path:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.txt").write_text("w-42\n")
    (tmp_path / "onlinescoring").mkdir()
    (tmp_path / "onlinescoring" / "score.py").write_text(SCRIPT)
    (tmp_path / "environment").mkdir()
    (tmp_path / "environment" / "conda.yaml").write_text(CONDA)
    path = tmp_path / "deployment.yml"
    path.write_text(deployment)
    return path


def test_reads_the_v2_keys(tmp_path: Path) -> None:
    deployment = load_online_deployment(project(tmp_path))
    assert (deployment.name, deployment.endpoint_name, deployment.service_name) == (
        "blue",
        "my-endpoint",
        "my-endpoint",
    )
    assert deployment.model_path == (tmp_path / "model").resolve()
    assert deployment.scoring_script == (tmp_path / "onlinescoring" / "score.py").resolve()
    assert deployment.conda_file == (tmp_path / "environment" / "conda.yaml").resolve()
    assert deployment.environment_variables == {"GREETING": "hello", "RETRIES": "3", "VERBOSE": "true"}
    assert deployment.request_timeout_ms == 4000


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("instance_type:", "instance_typ:"), "unknown key 'instance_typ'"),
        (("  scoring_script:", "  scoring_scrpt:"), "unknown key 'scoring_scrpt' in 'code_configuration'"),
        (("  request_timeout_ms:", "  request_timeout:"), "unknown key 'request_timeout' in 'request_settings'"),
        (("  conda_file:", "  condafile:"), "unknown key 'condafile' in 'environment'"),
        (("  initial_delay:", "  delay:"), "unknown key 'delay' in 'liveness_probe'"),
        (("  path: ./model/", "  path: ./nowhere/"), "model.path"),
        (("  scoring_script: score.py", "  scoring_script: missing.py"), "scoring_script"),
        (("model:\n  path: ./model/", "model: azureml:sentiment:1"), "refers to a workspace model"),
        (("endpoint_name: my-endpoint\n", ""), "'endpoint_name' must be a non-empty string"),
        (("  request_timeout_ms: 4000", "  request_timeout_ms: soon"), "request_timeout_ms' must be a positive"),
    ],
)
def test_mistakes_are_one_line_naming_the_key(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    path = project(tmp_path, DEPLOYMENT.replace(*edit))
    with pytest.raises(ConfigError, match=message) as caught:
        load_online_deployment(path)
    assert "\n" not in str(caught.value)


def edgeship(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("IOTEDGE_")}, "EDGESHIP_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "edgeship", *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


def test_cli_unknown_key_is_error_line_exit_1(tmp_path: Path) -> None:
    path = project(tmp_path, DEPLOYMENT.replace("instance_count:", "instance_cnt:"))
    result = edgeship(tmp_path / "home", "deploy", "-f", str(path))
    assert result.returncode == 1
    assert result.stderr == f"error: {path}: unknown key 'instance_cnt'\n"


def test_cli_refuses_mixing_v1_and_v2(tmp_path: Path) -> None:
    result = edgeship(tmp_path / "home", "deploy", "-f", str(project(tmp_path)), "--model", "sentiment:1")
    assert result.returncode == 1
    assert result.stderr == "error: -f takes the model and code from the YAML: drop --model, --ic and --dc\n"
    result = edgeship(tmp_path / "home", "deploy")
    assert result.returncode == 1
    assert result.stderr.startswith("error: give --name and --model")


@pytest.mark.integration
def test_deploy_runs_the_v2_deployment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = edgeship(home, "deploy", "-f", str(project(tmp_path)), "--json")
    try:
        assert result.returncode == 0, result.stderr[-2000:]
        deployed = json.loads(result.stdout.strip().splitlines()[-1])
        assert (deployed["name"], deployed["state"]) == ("my-endpoint", "Healthy")
        response = requests.post(
            deployed["scoring_uri"],
            data=json.dumps({"text": "Today is a great day!"}),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 200
        assert response.json() == {
            "weights": "w-42",
            "text": "Today is a great day!",
            "greeting": "hello",
            "retries": "3",
            "verbose": "true",
            "timeout": "4000",
        }
        assert response.headers["x-ms-run-function-failed"] == "False"
        assert requests.get(deployed["scoring_uri"].removesuffix("score"), timeout=10).text == "Healthy"
        listing = json.loads(edgeship(home, "service", "list", "--json").stdout)
        assert [(s["name"], s["state"]) for s in listing] == [("my-endpoint", "Healthy")]
    finally:
        edgeship(home, "service", "delete", "my-endpoint")
