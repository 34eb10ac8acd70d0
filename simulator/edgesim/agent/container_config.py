"""A module's ``createOptions`` turned into the body of Docker's create API, as edgeAgent builds it.

edgeAgent passes ``createOptions`` through to ``POST /containers/create`` (Env, Labels,
ExposedPorts, HostConfig with Binds / PortBindings / Mounts / Privileged / LogConfig, ...) and
adds what the runtime owns: the image, the environment (``createOptions.Env``, then the manifest's
``env``, then ``IOTEDGE_*``), its owner label, and the workload socket bind. Two departures, both
because the simulator's hub listens on the host (its loopback address is in the server
certificate): the network is always ``host`` (edgeAgent's default is the ``azure-iot-edge``
bridge), and a ``RestartPolicy`` is dropped, because the agent restarts modules itself (a Docker
restart policy would fight it; edgeAgent does not set one either).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from pathlib import Path

from edgesim.agent.launcher import ModuleLaunchError, ModuleRun
from edgesim.jsontypes import JSONObject, JSONValue

log = logging.getLogger(__name__)

CONTAINER_SOCKET = "/var/run/iotedge/workload.sock"  # where edgeAgent mounts each module's socket
OWNER_LABEL = "net.azure-devices.edge.owner"
INSTANCE_LABEL = "org.edgeship.edgesim.instance"


def _env_dict(entries: object, name: str) -> dict[str, str]:
    if not isinstance(entries, list) or not all(isinstance(entry, str) for entry in entries):
        raise ModuleLaunchError(f"module {name}: createOptions.Env must be a list of NAME=VALUE strings")
    env: dict[str, str] = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        env[key] = value
    return env


def _string_map(value: object, what: str, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ModuleLaunchError(f"module {name}: createOptions.{what} must map names to strings")
    return dict(value)


def _list(value: object, what: str, name: str) -> list[JSONValue]:
    if not isinstance(value, list):
        raise ModuleLaunchError(f"module {name}: createOptions.HostConfig.{what} must be a list")
    return list(value)


def container_config(run: ModuleRun, socket: Path, instance: str, dropped: Iterable[str] = ()) -> JSONObject:
    """The create API body for ``run``; ``socket`` is the module's own workload socket on the host."""
    options: JSONObject = copy.deepcopy(dict(run.create_options))
    env = _env_dict(options.get("Env", []), run.name)
    env.update(run.env)
    env["IOTEDGE_WORKLOADURI"] = f"unix://{CONTAINER_SOCKET}"
    options["Env"] = [f"{key}={value}" for key, value in env.items()]
    options["Image"] = run.image
    labels = _string_map(options.get("Labels", {}), "Labels", run.name)
    labels.update({OWNER_LABEL: "edgesim", INSTANCE_LABEL: instance})
    options["Labels"] = dict(labels)
    host = options.get("HostConfig", {})
    if not isinstance(host, dict):
        raise ModuleLaunchError(f"module {run.name}: createOptions.HostConfig must be an object")
    binds = _list(host.get("Binds", []), "Binds", run.name)
    binds.append(f"{socket}:{CONTAINER_SOCKET}")
    host["Binds"] = binds
    for key in ("NetworkMode", "RestartPolicy", *dropped):
        if key in host and not (key == "NetworkMode" and host[key] == "host"):
            log.info("module %s: createOptions.HostConfig.%s is not used by the simulator", run.name, key)
        host.pop(key, None)
    host["NetworkMode"] = "host"
    options["HostConfig"] = host
    options.pop("NetworkingConfig", None)
    return options
