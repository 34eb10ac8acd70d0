"""Starting a local web service (the module's HTTP face) in the background, and waiting for it.

``LOCAL`` serves the registered model on ``127.0.0.1``: the packaged ONNX scorer, or, with an
inference config, the user's entry script unmodified (``AZUREML_MODEL_DIR`` holds the registered
files under ``models/``, as Azure ML lays them out). ``IOTEDGE`` packages the model into the
sentiment module, generates the deployment manifest and runs it in the edge runtime simulator.
Either way the process runs in its own session, logs to ``service.log``, and is recorded so
``edgeship service`` can find, show and stop it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from edgeship._net import free_port
from edgeship._proc import pid_alive
from edgeship._time import utc_timestamp
from edgeship.errors import DeployError
from edgeship.project import package_registered, sentiment_model_dir, write_local_manifest
from edgeship.registry import Registry
from edgeship.services.conda import missing_requirements, read_requirements
from edgeship.services.config import DeploymentConfig, InferenceConfig
from edgeship.services.online_deployment import OnlineDeployment
from edgeship.services.store import (
    ServiceRecord,
    ServiceState,
    ServiceStore,
    stop_process_group,
    validate_service_name,
)

HEALTH_TIMEOUT = 180.0


@dataclass(frozen=True)
class DeployRequest:
    name: str
    model_ref: str
    inference: InferenceConfig | None
    deployment: DeploymentConfig
    port: int | None
    project: Path | None  # the checkout, for IOTEDGE (modules/, manifests/)


def _check_conda(conda_file: Path | None) -> None:
    if conda_file is None:
        return
    missing = missing_requirements(read_requirements(conda_file))
    if missing:
        names = ", ".join(f"{r.name} ({r.source})" for r in missing)
        raise DeployError(
            f"{conda_file.name} names packages this environment lacks: {names}; install them, then deploy again"
        )


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    import requests

    deadline = time.monotonic() + HEALTH_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DeployError(f"the service exited with code {process.returncode}: {_last_line(log_path)}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)  # polling the service's health endpoint until it answers, bounded above
    raise DeployError(f"the service did not become healthy within {HEALTH_TIMEOUT:.0f} s: {_last_line(log_path)}")


def _last_line(log_path: Path) -> str:
    try:
        lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def deploy(request: DeployRequest, registry: Registry, store: ServiceStore) -> ServiceRecord:
    folder = _clear_failed(store, request.name)
    if request.inference is not None:
        _check_conda(request.inference.conda_file)
    from edgeship.registry import parse_model_ref

    name, version = parse_model_ref(request.model_ref)
    record = registry.get(name, version)  # fails before anything starts if the model is unknown
    folder.mkdir(parents=True, exist_ok=True)
    port = request.port or request.deployment.port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTEDGE_")}
    if request.deployment.compute_type == "LOCAL":
        command = [
            sys.executable,
            "-m",
            "edgeship_sentiment",
            "--no-iothub",
            "--http",
            f"127.0.0.1:{port}",
            "--capture-dir",
            str(folder / "capture"),
        ]
        if request.inference is not None and request.inference.entry_script is not None:
            models_root = folder / "azureml-models"
            registry.download(record.name, record.version, models_root / "models")
            command += ["--entry-script", str(request.inference.entry_script), "--model-dir", str(models_root)]
            if importlib.util.find_spec("tf_keras") is not None:
                env["KERAS_ALIAS"] = "tf_keras"  # scripts written for Keras 2 load Keras 2 h5 files
                env["TF_USE_LEGACY_KERAS"] = "1"
            cwd = request.inference.entry_script.parent
        else:
            package_registered(registry, record, folder / "model")
            command += ["--model-dir", str(folder / "model")]
            cwd = folder
        health_url = f"http://127.0.0.1:{port}/health"
    else:
        if request.project is None:
            raise DeployError("computeType IOTEDGE needs an edgeship checkout (modules/ and manifests/)")
        project = request.project
        package_registered(registry, record, sentiment_model_dir(project))
        manifest = folder / "deployment.amd64.json"
        write_local_manifest(project, manifest, f"127.0.0.1:{port}")
        command = [
            sys.executable,
            "-m",
            "edgeship",
            "sim",
            "start",
            str(manifest),
            "--state",
            str(folder / "sim"),
            "--modules-dir",
            str(project / "modules"),
        ]
        cwd = project
        health_url = f"http://127.0.0.1:{port}/health"
    entry = str(request.inference.entry_script) if request.inference and request.inference.entry_script else None
    return _launch(
        store,
        ServiceRecord(
            name=request.name,
            compute_type=request.deployment.compute_type,
            model=record.ref,
            host="127.0.0.1",
            port=port,
            pid=0,
            entry_script=entry,
            created_at=utc_timestamp(),
        ),
        command,
        cwd,
        env,
        health_url,
    )


def _launch(
    store: ServiceStore, draft: ServiceRecord, command: list[str], cwd: Path, env: dict[str, str], health_url: str
) -> ServiceRecord:
    """Start the service's process in its own session, record it, and wait until it is healthy."""
    log_path = store.log_path(draft.name)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    service = replace(draft, pid=process.pid)
    store.save(service)
    try:
        _wait_healthy(process, health_url, log_path)
    except DeployError:
        stop_process_group(process.pid, 5)
        store.save(replace(service, state=ServiceState.FAILED))
        raise
    healthy = replace(service, state=ServiceState.HEALTHY)
    store.save(healthy)
    return healthy


def _clear_failed(store: ServiceStore, name: str) -> Path:
    folder = store.folder(name)
    if (folder / "service.json").exists():
        existing = store.load(name)
        if existing.state != ServiceState.FAILED:
            raise DeployError(
                f"service {name!r} already exists ({existing.state}); 'edgeship service delete {name}' first"
            )
        store.delete(name)
    return folder


def deploy_online(
    deployment: OnlineDeployment, store: ServiceStore, port: int | None, name: str | None = None
) -> ServiceRecord:
    """Run an Azure ML v2 online deployment locally: its model folder, scoring script and variables."""
    service_name = validate_service_name(name or deployment.service_name)
    folder = _clear_failed(store, service_name)
    _check_conda(deployment.conda_file)
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    # v2 puts a deployment's model under $AZUREML_MODEL_DIR by its own name (model/ -> .../model/).
    models_root = folder / "azureml-models"
    models_root.mkdir(exist_ok=True)
    target = models_root / deployment.model_path.name
    if deployment.model_path.is_dir():
        shutil.copytree(deployment.model_path, target, dirs_exist_ok=True)
    else:
        shutil.copy2(deployment.model_path, target)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTEDGE_")}
    env.update(deployment.environment_variables)
    if deployment.request_timeout_ms is not None:
        env["SCORING_TIMEOUT_MS"] = str(deployment.request_timeout_ms)
    if importlib.util.find_spec("tf_keras") is not None:
        env.setdefault("KERAS_ALIAS", "tf_keras")
        env.setdefault("TF_USE_LEGACY_KERAS", "1")
    command = [
        sys.executable,
        "-m",
        "edgeship_sentiment",
        "--no-iothub",
        "--http",
        f"127.0.0.1:{port}",
        "--capture-dir",
        str(folder / "capture"),
        "--entry-script",
        str(deployment.scoring_script),
        "--model-dir",
        str(models_root),
    ]
    draft = ServiceRecord(
        name=service_name,
        compute_type="LOCAL",
        model=str(deployment.model_path),
        host="127.0.0.1",
        port=port,
        pid=0,
        entry_script=str(deployment.scoring_script),
        created_at=utc_timestamp(),
    )
    return _launch(store, draft, command, deployment.code_dir, env, f"http://127.0.0.1:{port}/health")


def refresh_state(record: ServiceRecord) -> ServiceRecord:
    """Healthy only if the process lives and /health answers now."""
    import requests

    if record.state in (ServiceState.FAILED, ServiceState.STOPPED) or not pid_alive(record.pid):
        return record if record.state == ServiceState.STOPPED else replace(record, state=ServiceState.FAILED)
    try:
        ok = requests.get(f"http://{record.host}:{record.port}/health", timeout=2).status_code == 200
    except requests.RequestException:
        ok = False
    return replace(record, state=ServiceState.HEALTHY if ok else ServiceState.UNHEALTHY)
