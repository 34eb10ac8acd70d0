"""The seed's two deployment files, read strictly.

``inferenceConfig.json``: ``{"entryScript": "score.py", "runtime": "python", "condaFile": "myenv.yml"}``
(``sourceDirectory`` is honoured too). ``deploymentConfig.json``: ``{"computeType": "LOCAL"}``
(optionally ``"port"``), or our own ``{"computeType": "IOTEDGE"}``. Azure ML reads both as
YAML-or-JSON; so do we. Paths inside a file are relative to that file's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from edgeship.errors import ConfigError

ComputeType = Literal["LOCAL", "IOTEDGE"]


@dataclass(frozen=True)
class InferenceConfig:
    entry_script: Path | None
    runtime: str
    conda_file: Path | None
    source_directory: Path | None


@dataclass(frozen=True)
class DeploymentConfig:
    compute_type: ComputeType
    port: int | None


def _read_mapping(path: Path, what: str) -> dict[str, object]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)  # JSON is YAML: one loader for both, as the az CLI does
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is neither JSON nor YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold an object")
    return data


def _optional_str(data: dict[str, object], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: '{key}' must be a non-empty string")
    return value


def load_inference_config(path: Path) -> InferenceConfig:
    data = _read_mapping(path, "inference config")
    known = {
        "entryScript",
        "runtime",
        "condaFile",
        "sourceDirectory",
        "extraDockerfileSteps",
        "enableGpu",
        "baseImage",
        "baseImageRegistry",
        "description",
        "schemaFile",
        "dependencies",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}")
    runtime = (_optional_str(data, "runtime", path) or "python").lower()
    if runtime != "python":
        raise ConfigError(f"{path}: runtime {runtime!r} is not supported (only 'python')")
    base = path.parent
    source = _optional_str(data, "sourceDirectory", path)
    source_dir = (base / source).resolve() if source else None
    script_base = source_dir or base
    entry = _optional_str(data, "entryScript", path)
    entry_script = (script_base / entry).resolve() if entry else None
    if entry_script is not None and not entry_script.is_file():
        raise ConfigError(f"{path}: entry script {entry_script} does not exist")
    conda = _optional_str(data, "condaFile", path)
    conda_file = (script_base / conda).resolve() if conda else None
    if conda_file is not None and not conda_file.is_file():
        raise ConfigError(f"{path}: conda file {conda_file} does not exist")
    return InferenceConfig(entry_script, runtime, conda_file, source_dir)


def load_deployment_config(path: Path) -> DeploymentConfig:
    data = _read_mapping(path, "deployment config")
    compute = data.get("computeType")
    if not isinstance(compute, str) or compute.upper() not in ("LOCAL", "IOTEDGE"):
        raise ConfigError(f"{path}: computeType must be 'LOCAL' or 'IOTEDGE', got {compute!r}")
    port = data.get("port")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536):
        raise ConfigError(f"{path}: port must be an integer 1-65535")
    normalized: ComputeType = "LOCAL" if compute.upper() == "LOCAL" else "IOTEDGE"
    return DeploymentConfig(normalized, port)
