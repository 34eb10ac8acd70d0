"""The seed's inferenceConfig / deploymentConfig / conda files, read strictly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgeship.errors import ConfigError
from edgeship.services.conda import Requirement, missing_requirements, read_requirements
from edgeship.services.config import load_deployment_config, load_inference_config

SEED_CONDA = """\
name: inference_environment
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


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_seed_inference_config(tmp_path: Path) -> None:
    write(tmp_path / "score.py", "def init(): pass\ndef run(data): return data\n")
    write(tmp_path / "myenv.yml", SEED_CONDA)
    path = write(
        tmp_path / "inferenceConfig.json",
        json.dumps({"entryScript": "score.py", "runtime": "python", "condaFile": "myenv.yml"}),
    )
    config = load_inference_config(path)
    assert config.entry_script == (tmp_path / "score.py").resolve()
    assert config.conda_file == (tmp_path / "myenv.yml").resolve()
    assert config.runtime == "python"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"entryScript": "missing.py"}, "does not exist"),
        ({"runtime": "spark-py"}, "not supported"),
        ({"entryScript": 3}, "non-empty string"),
        ({"entryscript": "score.py"}, "unknown key"),
    ],
)
def test_bad_inference_config(tmp_path: Path, body: dict[str, object], message: str) -> None:
    path = write(tmp_path / "ic.json", json.dumps(body))
    with pytest.raises(ConfigError, match=message):
        load_inference_config(path)


def test_inference_config_not_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither JSON nor YAML"):
        load_inference_config(write(tmp_path / "ic.json", "{entryScript: [unclosed"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_inference_config(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("body", "compute", "port"),
    [
        ({"computeType": "LOCAL"}, "LOCAL", None),
        ({"computeType": "local", "port": 6789}, "LOCAL", 6789),
        ({"computeType": "IOTEDGE"}, "IOTEDGE", None),
    ],
)
def test_deployment_config(tmp_path: Path, body: dict[str, object], compute: str, port: int | None) -> None:
    config = load_deployment_config(write(tmp_path / "dc.json", json.dumps(body)))
    assert (config.compute_type, config.port) == (compute, port)


@pytest.mark.parametrize(
    "body",
    [{"computeType": "AKS"}, {}, {"computeType": "LOCAL", "port": 70000}, {"computeType": "LOCAL", "port": True}],
)
def test_bad_deployment_config(tmp_path: Path, body: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        load_deployment_config(write(tmp_path / "dc.json", json.dumps(body)))


def test_seed_conda_file_requirements(tmp_path: Path) -> None:
    requirements = read_requirements(write(tmp_path / "myenv.yml", SEED_CONDA))
    assert [r.name for r in requirements] == [
        "python",
        "tensorflow",
        "numpy",
        "scikit-learn",
        "azureml-defaults",
        "keras",
        "gensim",
    ]
    assert Requirement("scikit-learn", "conda").import_name == "sklearn"
    # This environment has the convert extra: everything the seed names is importable, and the
    # Azure ML serving harness is what edgeship itself provides.
    assert missing_requirements(requirements) == []


def test_missing_requirement_is_named(tmp_path: Path) -> None:
    requirements = read_requirements(
        write(tmp_path / "env.yml", "dependencies:\n- numpy\n- pip:\n  - surely-not-installed-pkg==1.0\n")
    )
    assert missing_requirements(requirements) == [Requirement("surely-not-installed-pkg", "pip")]


def test_bad_conda_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="dependencies"):
        read_requirements(write(tmp_path / "env.yml", "dependencies: numpy\n"))
