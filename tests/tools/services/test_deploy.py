"""`edgeship deploy` with the seed's files, entry script and client code; `edgeship service`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.slow, pytest.mark.integration]
SEED = Path(__file__).resolve().parents[3].parent / "shared" / "seeds" / "use-an-existing-model.nl.md"
SEED_CONDA = """name: inference_environment
dependencies:
- python=3.6.2
- tensorflow
- numpy
- scikit-learn
- pip:
    - azureml-defaults
    - keras
    - gensim
"""


def seed_score_py() -> str:
    if not SEED.is_file():
        pytest.skip("the seed document (../shared/seeds) is not beside this checkout")
    blocks = re.findall(r"```python\n(.*?)```", SEED.read_text(encoding="utf-8"), re.S)
    return str(next(block for block in blocks if "def init()" in block))


def edgeship(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeship", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "EDGESHIP_HOME": str(home)},
        cwd=cwd,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path, small_model_dir: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    result = edgeship(
        home,
        "model",
        "register",
        str(small_model_dir),
        "-n",
        "sentiment",
        *[arg for name in ("model.h5", "model.w2v", "tokenizer.pkl", "encoder.pkl") for arg in ("--child-path", name)],
    )
    assert result.stdout == "sentiment:1\n", result.stderr
    yield home
    listing = edgeship(home, "service", "list", "--json")
    for service in json.loads(listing.stdout or "[]"):
        edgeship(home, "service", "delete", service["name"])


def seed_client(scoring_uri: str) -> requests.Response:
    # The seed's client code, verbatim but for the URI.
    headers = {"Content-Type": "application/json"}
    test_data = json.dumps({"text": "Today is a great day!"})
    return requests.post(scoring_uri, data=test_data, headers=headers, timeout=30)


def write_seed_files(folder: Path, script: str) -> tuple[Path, Path]:
    (folder / "score.py").write_text(script)
    (folder / "myenv.yml").write_text(SEED_CONDA)
    (folder / "inferenceConfig.json").write_text(
        json.dumps({"entryScript": "score.py", "runtime": "python", "condaFile": "myenv.yml"})
    )
    (folder / "deploymentConfig.json").write_text(json.dumps({"computeType": "LOCAL"}))
    return folder / "inferenceConfig.json", folder / "deploymentConfig.json"


def test_seed_flow_with_the_seed_entry_script(home: Path, tmp_path: Path) -> None:
    # One change to the seed's score.py: numpy >= 2.4 refuses float() of a 1-element array, which
    # the seed does with model.predict(...)[0]; see test_verbatim_seed_script_reply below.
    script = seed_score_py().replace('"score": float(score)', '"score": float(score[0])')
    ic, dc = write_seed_files(tmp_path, script)
    result = edgeship(
        home, "deploy", "-n", "myservice", "-m", "sentiment:1", "--ic", str(ic), "--dc", str(dc), "--json"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    deployed = json.loads(result.stdout.strip().splitlines()[-1])
    assert deployed["name"] == "myservice"
    assert deployed["state"] == "Healthy"
    response = seed_client(deployed["scoring_uri"])
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"label", "score", "elapsed_time"}
    assert body["label"] in {"POSITIVE", "NEUTRAL", "NEGATIVE"}
    listing = json.loads(edgeship(home, "service", "list", "--json").stdout)
    assert [(s["name"], s["state"]) for s in listing] == [("myservice", "Healthy")]
    assert "HTTP scoring endpoint" in edgeship(home, "service", "logs", "myservice").stdout
    shown = json.loads(edgeship(home, "service", "show", "myservice").stdout)
    pid = shown["pid"]
    assert edgeship(home, "service", "delete", "myservice").stdout.strip() == "deleted myservice"
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1]
    with pytest.raises(requests.ConnectionError):
        seed_client(deployed["scoring_uri"])


def test_verbatim_seed_script_reply(home: Path, tmp_path: Path) -> None:
    ic, dc = write_seed_files(tmp_path, seed_score_py())
    result = edgeship(home, "deploy", "-n", "verbatim", "-m", "sentiment:1", "--ic", str(ic), "--dc", str(dc), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    response = seed_client(json.loads(result.stdout.strip().splitlines()[-1])["scoring_uri"])
    # Hosted unmodified, the seed's run() turns numpy 2.4's TypeError into its reply, as on Azure ML.
    assert response.status_code == 200
    assert response.json() == "only 0-dimensional arrays can be converted to Python scalars"


def test_onnx_scorer_without_inference_config(home: Path) -> None:
    result = edgeship(home, "deploy", "-n", "onnx-svc", "-m", "sentiment", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    deployed = json.loads(result.stdout.strip().splitlines()[-1])
    body = seed_client(deployed["scoring_uri"]).json()
    assert set(body) == {"label", "score", "elapsed_time"}
    again = edgeship(home, "deploy", "-n", "onnx-svc", "-m", "sentiment")
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_missing_conda_dependency_reported_before_anything_starts(home: Path, tmp_path: Path) -> None:
    ic, _ = write_seed_files(tmp_path, "def init():\n    pass\ndef run(d):\n    return d\n")
    (tmp_path / "myenv.yml").write_text("dependencies:\n- numpy\n- pip:\n  - definitely-not-installed-pkg\n")
    result = edgeship(home, "deploy", "-n", "nodeps", "-m", "sentiment:1", "--ic", str(ic))
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: myenv.yml names packages this environment lacks: definitely-not-installed-pkg (pip)"
    )
    assert json.loads(edgeship(home, "service", "list", "--json").stdout) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-n", "svc", "-m", "sentiment:9"), "not registered"),
        (("-n", "Bad_Name", "-m", "sentiment"), "invalid service name"),
    ],
)
def test_bad_deploys_are_one_line_errors(home: Path, args: tuple[str, ...], message: str) -> None:
    result = edgeship(home, "deploy", *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_iotedge_compute_type_runs_in_the_simulator(home: Path, tmp_path: Path, repo_root: Path) -> None:
    dc = tmp_path / "dc.json"
    dc.write_text(json.dumps({"computeType": "IOTEDGE"}))
    result = edgeship(home, "deploy", "-n", "edge-svc", "-m", "sentiment:1", "--dc", str(dc), "--json", cwd=repo_root)
    assert result.returncode == 0, result.stderr[-2000:]
    deployed = json.loads(result.stdout.strip().splitlines()[-1])
    assert seed_client(deployed["scoring_uri"]).json()["label"] in {"POSITIVE", "NEUTRAL", "NEGATIVE"}
    assert sorted(
        p.name
        for p in (repo_root / "modules" / "sentiment").iterdir()
        if p.is_dir() and not p.name.startswith((".", "__"))
    ) == ["edgeship_sentiment", "model", "wheels"]
    shown = json.loads(edgeship(home, "service", "show", "edge-svc").stdout)
    assert shown["compute_type"] == "IOTEDGE"
    assert edgeship(home, "service", "delete", "edge-svc").returncode == 0
    with pytest.raises(requests.ConnectionError):
        seed_client(deployed["scoring_uri"])
