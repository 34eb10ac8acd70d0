"""``edgeship service update NAME -m NAME:VERSION``: swap the model of a running LOCAL service.

As Azure ML's ``az ml service update``, but without a restart: the model is packaged (parity gate
included) and published into the service's folder, its desired value written to the module's
model store (``<service>/model-store/desired.json``), and the module told with SIGHUP. The module
verifies and swaps exactly as for a twin patch and writes each step to ``status.json``, which this
waits on; a refused update is an error here and the old model keeps serving.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Literal

from edgeship.errors import DeployError
from edgeship.registry import Registry, parse_model_ref
from edgeship.services.store import ServiceRecord, ServiceState, ServiceStore
from edgeship_sentiment.model_update.state import UpdateState

UPDATE_TIMEOUT = 180.0
MODEL_STORE = "model-store"  # the module's default, relative to a LOCAL service's folder (its cwd)


def _status(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def update_local_service(
    store: ServiceStore,
    name: str,
    registry: Registry,
    ref: str,
    *,
    quantize: Literal["int8"] | None = None,
    timeout: float = UPDATE_TIMEOUT,
) -> ServiceRecord:
    from edgeship.packager import PackageOptions
    from edgeship.project import package_registered
    from edgeship.publish import publish_folder
    from edgeship.services.launch import refresh_state

    record = refresh_state(store.load(name))
    if record.compute_type != "LOCAL":
        raise DeployError(
            f"service {name} is {record.compute_type}: an edge module takes its model from a twin "
            "patch ('edgeship model publish' prints it)"
        )
    if record.entry_script:
        raise DeployError(f"service {name} runs an entry script, whose model is the script's to load")
    if record.state != ServiceState.HEALTHY:
        raise DeployError(f"service {name} is {record.state}; only a running service can be updated")
    model_name, version = parse_model_ref(ref)
    model = registry.get(model_name, version)
    folder = store.folder(name)
    with tempfile.TemporaryDirectory(prefix="edgeship-update-") as work:
        packaged = Path(work) / "model"
        package_registered(registry, model, packaged, PackageOptions(quantize=quantize))
        published = publish_folder(packaged, folder / "published")
    model_store = folder / MODEL_STORE
    model_store.mkdir(parents=True, exist_ok=True)
    status_path = model_store / "status.json"
    before = _status(status_path)
    if before is not None and before.get("sha256") == published.sha256 and before.get("state") == UpdateState.APPLIED:
        return replace(record, model=model.ref)  # already serving this very archive
    temporary = model_store / "desired.json.tmp"
    temporary.write_text(json.dumps(published.patch) + "\n", encoding="utf-8")
    os.replace(temporary, model_store / "desired.json")
    try:
        os.kill(record.pid, signal.SIGHUP)
    except ProcessLookupError:
        raise DeployError(f"service {name} (pid {record.pid}) is not running") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _status(status_path)
        if (
            status is not None
            and status != before
            and status.get("sha256") == published.sha256
            and status.get("state") in (UpdateState.APPLIED, UpdateState.REJECTED)
        ):
            if status["state"] == UpdateState.REJECTED:
                raise DeployError(
                    f"the service refused {model.ref}: {status.get('reason')}; {record.model} keeps serving"
                )
            updated = replace(record, model=model.ref)
            store.save(updated)
            return updated
        time.sleep(0.1)  # polling the module's status file, bounded by the deadline
    raise DeployError(
        f"service {name} did not apply {model.ref} within {timeout:.0f} s (see 'edgeship service logs {name}')"
    )
