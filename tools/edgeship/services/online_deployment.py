"""Azure ML v2 managed online deployment YAML (``az ml online-deployment create -f``), read strictly.

What runs locally: ``model.path`` (a folder or a file; it appears under ``$AZUREML_MODEL_DIR``
by its own name, as v2 lays models out), ``code_configuration.code`` + ``scoring_script`` (the
entry script), ``environment.conda_file`` (checked against this Python before anything starts),
``environment_variables`` (set for the script) and ``request_settings.request_timeout_ms`` (the
scoring timeout). Keys that describe Azure resources (instance type and count, probes, scale
settings, app insights ...) are accepted and have no local effect. Every other key is an error
naming it, so a typo is never silently ignored. Paths are relative to the YAML file's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from edgeship.errors import ConfigError

PROBE_KEYS = {"initial_delay", "period", "timeout", "success_threshold", "failure_threshold"}
ENVIRONMENT_KEYS = {
    "name",
    "version",
    "description",
    "tags",
    "properties",
    "image",
    "conda_file",
    "build",
    "inference_config",
    "os_type",
    "datastore",
}
KNOWN: dict[str, set[str] | None] = {
    # None: any value (a scalar, or a mapping this tool does not look into)
    "$schema": None,
    "name": None,
    "description": None,
    "tags": None,
    "properties": None,
    "endpoint_name": None,
    "model": {"name", "version", "path", "type", "description", "tags", "properties", "stage", "datastore"},
    "model_mount_path": None,
    "code_configuration": {"code", "scoring_script"},
    "environment_variables": None,
    "environment": ENVIRONMENT_KEYS,
    "instance_type": None,
    "instance_count": None,
    "app_insights_enabled": None,
    "scale_settings": {"type", "min_instances", "max_instances", "polling_interval", "target_utilization_percentage"},
    "request_settings": {"request_timeout_ms", "max_concurrent_requests_per_instance", "max_queue_wait_ms"},
    "liveness_probe": PROBE_KEYS,
    "readiness_probe": PROBE_KEYS,
    "egress_public_network_access": None,
    "data_collector": None,
    "type": None,
}


@dataclass(frozen=True)
class OnlineDeployment:
    source: Path
    name: str
    endpoint_name: str
    model_path: Path
    code_dir: Path
    scoring_script: Path
    conda_file: Path | None
    environment_variables: dict[str, str]
    request_timeout_ms: int | None

    @property
    def service_name(self) -> str:
        """The scoring URI belongs to the endpoint: ``edgeship service`` knows it by that name."""
        return self.endpoint_name


def _mapping(value: object, where: str, path: Path) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: '{where}' must be a mapping")
    return value


def _check_keys(data: dict[str, object], allowed: set[str], where: str, path: Path) -> None:
    for key in data:
        if key not in allowed:
            place = f" in '{where}'" if where else ""
            raise ConfigError(f"{path}: unknown key '{key}'{place}")


def _string(data: dict[str, object], key: str, where: str, path: Path, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: '{where}{key}' must be a non-empty string")
    return value


def _local(base: Path, text: str, what: str, path: Path) -> Path:
    resolved = (base / text).resolve()
    if not resolved.exists():
        raise ConfigError(f"{path}: {what} {resolved} does not exist")
    return resolved


def load_online_deployment(path: Path) -> OnlineDeployment:
    try:
        data: object = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read deployment file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"deployment file {path} is not YAML: {str(exc).splitlines()[0]}") from exc
    data = _mapping(data, "the file", path) if data is not None else {}
    _check_keys(data, set(KNOWN), "", path)
    for key, allowed in KNOWN.items():
        if allowed is not None and key in data and not (key in ("model", "environment") and isinstance(data[key], str)):
            _check_keys(_mapping(data[key], key, path), allowed, key, path)
    base = path.parent
    name = _string(data, "name", "", path)
    endpoint = _string(data, "endpoint_name", "", path)
    assert name is not None
    assert endpoint is not None
    model = data.get("model")
    if isinstance(model, str):
        raise ConfigError(
            f"{path}: 'model: {model}' refers to a workspace model; give 'model.path' (a local folder or file) instead"
        )
    if model is None:
        raise ConfigError(f"{path}: 'model.path' is required")
    model_path = _local(base, _string(_mapping(model, "model", path), "path", "model.", path) or "", "model.path", path)
    code_config = (
        _mapping(data.get("code_configuration"), "code_configuration", path) if "code_configuration" in data else None
    )
    if code_config is None:
        raise ConfigError(f"{path}: 'code_configuration' (code and scoring_script) is required")
    code_dir = _local(
        base, _string(code_config, "code", "code_configuration.", path) or "", "code_configuration.code", path
    )
    script = _local(
        code_dir, _string(code_config, "scoring_script", "code_configuration.", path) or "", "scoring_script", path
    )
    conda_file = None
    environment = data.get("environment")
    if isinstance(environment, dict) and environment.get("conda_file") is not None:
        conda_file = _local(
            base, _string(environment, "conda_file", "environment.", path) or "", "environment.conda_file", path
        )
    variables = data.get("environment_variables") or {}
    if not isinstance(variables, dict):
        raise ConfigError(f"{path}: 'environment_variables' must be a mapping")
    for key, value in variables.items():
        if not isinstance(key, str) or isinstance(value, dict | list):
            raise ConfigError(f"{path}: environment_variables.{key} must be a string, number or boolean")
    env = {key: (str(value).lower() if isinstance(value, bool) else str(value)) for key, value in variables.items()}
    timeout = _mapping(data.get("request_settings") or {}, "request_settings", path).get("request_timeout_ms")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0):
        raise ConfigError(f"{path}: 'request_settings.request_timeout_ms' must be a positive integer")
    return OnlineDeployment(path.resolve(), name, endpoint, model_path, code_dir, script, conda_file, env, timeout)
