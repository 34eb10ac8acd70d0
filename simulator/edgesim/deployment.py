"""A typed reader of an IoT Edge deployment manifest: what the simulator needs, nothing more.

The full validator (schema, route/interface checks, size limits) lives in ``edgeship.manifest``.
This reader only turns the parts the simulator runs into frozen dataclasses and stops with a
one-line ``DeploymentError`` that names the JSON path of the first thing missing or wrong.
Both a plain manifest (``{"modulesContent": ...}``) and an at-scale deployment document
(``{"content": {"modulesContent": ...}}``) are accepted.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from edgesim.errors import SimulatorError
from edgesim.jsondepth import TwinPatchError, check_depth
from edgesim.jsontypes import JSONObject, JSONValue

MODULE_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
DEFAULT_STORE_TTL_SECS = 7200
E = TypeVar("E", bound=enum.Enum)
CREATE_OPTION_CHUNKS = ("createOptions", *(f"createOptions{i:02d}" for i in range(1, 8)))
PULL_POLICIES = ("on-create", "never")


class DeploymentError(SimulatorError):
    """A deployment manifest the simulator cannot run; the message names the JSON path."""


class ModuleStatus(enum.Enum):
    RUNNING = "running"
    STOPPED = "stopped"


class RestartPolicy(enum.Enum):
    NEVER = "never"
    ON_FAILURE = "on-failure"
    ON_UNHEALTHY = "on-unhealthy"
    ALWAYS = "always"


@dataclass(frozen=True)
class ModuleSpec:
    """One user module of ``$edgeAgent.modules``."""

    name: str
    image: str
    status: ModuleStatus = ModuleStatus.RUNNING
    restart_policy: RestartPolicy = RestartPolicy.ALWAYS
    startup_order: int | None = None  # None: after every module that has one (edgeAgent: uint max)
    version: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    create_options: Mapping[str, JSONValue] = field(default_factory=dict)
    image_pull_policy: str = "on-create"  # edgeAgent's: "on-create" (pull when creating) or "never"


@dataclass(frozen=True)
class RegistryCredential:
    """One entry of ``$edgeAgent`` ``runtime.settings.registryCredentials``."""

    name: str
    address: str
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class SystemModuleSpec:
    """``edgeAgent`` or ``edgeHub`` from ``systemModules`` (the simulator plays both itself)."""

    name: str
    image: str
    env: Mapping[str, str]
    create_options: Mapping[str, JSONValue]


@dataclass(frozen=True)
class Deployment:
    agent_schema_version: str
    hub_schema_version: str
    modules: tuple[ModuleSpec, ...]
    system_modules: tuple[SystemModuleSpec, ...]
    routes: Mapping[str, str | Mapping[str, JSONValue]]
    store_ttl_secs: int
    desired: Mapping[str, JSONObject]  # module name -> properties.desired of its twin
    registry_credentials: tuple[RegistryCredential, ...] = ()
    store_max_bytes: int | None = None  # storeAndForwardConfiguration.storeLimits.maxSizeBytes; None: no limit

    def module(self, name: str) -> ModuleSpec:
        for spec in self.modules:
            if spec.name == name:
                return spec
        raise DeploymentError(f"the deployment has no module {name!r}")

    @property
    def module_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.modules)


def _fail(path: str, problem: str) -> DeploymentError:
    return DeploymentError(f"{path}: {problem}")


def _object(value: object, path: str) -> Mapping[str, JSONValue]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"expected an object, got {type(value).__name__}")
    return value


def _member(obj: Mapping[str, JSONValue], key: str, path: str) -> JSONValue:
    if key not in obj:
        raise _fail(f"{path}.{key}", "missing")
    return obj[key]


def _string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"expected a string, got {type(value).__name__}")
    return value


def _enum(kind: type[E], value: object, path: str) -> E:
    choices = [member.value for member in kind]
    if value not in choices:
        raise _fail(path, f"expected one of {', '.join(choices)}, got {value!r}")
    return kind(value)


def _create_options(settings: Mapping[str, JSONValue], path: str) -> Mapping[str, JSONValue]:
    # Long createOptions are split into createOptions, createOptions01..07 (IoT Edge's chunking).
    chunks: list[str] = []
    for key in CREATE_OPTION_CHUNKS:
        if key not in settings:
            break
        chunks.append(_string(settings[key], f"{path}.{key}"))
    joined = "".join(chunks)
    if not joined.strip():
        return {}  # edgeAgent reads an empty createOptions as none (iotedgedev templates write "")
    try:
        options = json.loads(joined)
    except json.JSONDecodeError as exc:
        raise _fail(f"{path}.createOptions", f"not valid JSON ({exc.msg} at offset {exc.pos})") from None
    except RecursionError:
        raise _fail(f"{path}.createOptions", "not valid JSON (nested too deeply)") from None
    return _object(options, f"{path}.createOptions")


def _env(value: object, path: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for name, entry in _object(value, path).items():
        entry_path = f"{path}.{name}"
        # Docker and execve take any name without '=' or NUL (.NET's "Logging:LogLevel:Microsoft" style)
        if not name or "=" in name or "\0" in name:
            raise _fail(entry_path, "not a valid environment variable name")
        raw = _member(_object(entry, entry_path), "value", entry_path)
        if isinstance(raw, bool):
            env[name] = "True" if raw else "False"  # edgeAgent reads the value as a .NET string
            continue
        if not isinstance(raw, (str, int, float)):
            raise _fail(f"{entry_path}.value", f"expected a string, number or boolean, got {type(raw).__name__}")
        env[name] = raw if isinstance(raw, str) else json.dumps(raw)
    return env


def _image(module: Mapping[str, JSONValue], path: str) -> tuple[str, Mapping[str, JSONValue]]:
    settings = _object(_member(module, "settings", path), f"{path}.settings")
    image = _string(_member(settings, "image", f"{path}.settings"), f"{path}.settings.image")
    return image, _create_options(settings, f"{path}.settings")


def _module(name: str, module: object, path: str) -> ModuleSpec:
    if not MODULE_NAME.match(name):
        raise _fail(path, "module names may only hold letters, digits, '_' and '-'")
    obj = _object(module, path)
    image, create_options = _image(obj, path)
    order = obj.get("startupOrder")
    if order is not None and (isinstance(order, bool) or not isinstance(order, int) or order < 0):
        raise _fail(f"{path}.startupOrder", f"expected a non-negative integer, got {order!r}")
    version = obj.get("version", "")
    return ModuleSpec(
        name=name,
        image=image,
        status=_enum(ModuleStatus, obj.get("status", "running"), f"{path}.status"),
        restart_policy=_enum(RestartPolicy, obj.get("restartPolicy", "always"), f"{path}.restartPolicy"),
        startup_order=order,
        version=version if isinstance(version, str) else json.dumps(version),
        env=_env(obj.get("env", {}), f"{path}.env"),
        create_options=create_options,
        image_pull_policy=_pull_policy(obj.get("imagePullPolicy", "on-create"), f"{path}.imagePullPolicy"),
    )


def _pull_policy(value: object, path: str) -> str:
    if value not in PULL_POLICIES:
        raise _fail(path, f"expected one of {', '.join(PULL_POLICIES)}, got {value!r}")
    return str(value)


def _registry_credentials(agent: Mapping[str, JSONValue], path: str) -> tuple[RegistryCredential, ...]:
    runtime = agent.get("runtime", {})
    settings = runtime.get("settings", {}) if isinstance(runtime, Mapping) else {}
    found = settings.get("registryCredentials", {}) if isinstance(settings, Mapping) else {}
    credentials = []
    for name, entry in _object(found, f"{path}.runtime.settings.registryCredentials").items():
        entry_path = f"{path}.runtime.settings.registryCredentials.{name}"
        obj = _object(entry, entry_path)
        credentials.append(
            RegistryCredential(
                name,
                _string(_member(obj, "address", entry_path), f"{entry_path}.address"),
                _string(obj.get("username", ""), f"{entry_path}.username"),
                _string(obj.get("password", ""), f"{entry_path}.password"),
            )
        )
    return tuple(credentials)


def _routes(value: object, path: str) -> dict[str, str | Mapping[str, JSONValue]]:
    routes: dict[str, str | Mapping[str, JSONValue]] = {}
    for name, route in _object(value, path).items():
        if isinstance(route, str):
            routes[name] = route
        elif isinstance(route, Mapping):
            _string(_member(route, "route", f"{path}.{name}"), f"{path}.{name}.route")
            routes[name] = dict(route)
        else:
            raise _fail(f"{path}.{name}", f"expected a route string or object, got {type(route).__name__}")
    return routes


def _store_ttl(hub: Mapping[str, JSONValue], path: str) -> int:
    config = hub.get("storeAndForwardConfiguration")
    if config is None:
        return DEFAULT_STORE_TTL_SECS
    cfg_path = f"{path}.storeAndForwardConfiguration"
    ttl = _object(config, cfg_path).get("timeToLiveSecs", DEFAULT_STORE_TTL_SECS)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        raise _fail(f"{cfg_path}.timeToLiveSecs", f"expected a non-negative integer, got {ttl!r}")
    return ttl


def _store_limit(hub: Mapping[str, JSONValue], path: str) -> int | None:
    config = hub.get("storeAndForwardConfiguration")
    if config is None:
        return None
    cfg_path = f"{path}.storeAndForwardConfiguration"
    limits = _object(config, cfg_path).get("storeLimits")
    if limits is None:
        return None
    size = _object(limits, f"{cfg_path}.storeLimits").get("maxSizeBytes")
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise _fail(f"{cfg_path}.storeLimits.maxSizeBytes", f"expected a non-negative integer, got {size!r}")
    return size


def parse_deployment(document: object, source: str = "manifest") -> Deployment:
    """Read a parsed manifest document; ``source`` prefixes the JSON paths in errors."""
    root = _object(document, source)
    prefix = source
    wrapped = root.get("content")
    if "modulesContent" not in root and isinstance(wrapped, Mapping):
        root, prefix = wrapped, f"{source}.content"
    content = _object(_member(root, "modulesContent", prefix), f"{prefix}.modulesContent")
    content_path = f"{prefix}.modulesContent"

    agent_path = f"{content_path}.$edgeAgent.properties.desired"
    agent_twin = _object(_member(content, "$edgeAgent", content_path), f"{content_path}.$edgeAgent")
    agent = _object(_member(agent_twin, "properties.desired", f"{content_path}.$edgeAgent"), agent_path)
    hub_path = f"{content_path}.$edgeHub.properties.desired"
    hub_twin = _object(_member(content, "$edgeHub", content_path), f"{content_path}.$edgeHub")
    hub = _object(_member(hub_twin, "properties.desired", f"{content_path}.$edgeHub"), hub_path)

    agent_schema = _string(_member(agent, "schemaVersion", agent_path), f"{agent_path}.schemaVersion")
    hub_schema = _string(_member(hub, "schemaVersion", hub_path), f"{hub_path}.schemaVersion")

    system_path = f"{agent_path}.systemModules"
    system: list[SystemModuleSpec] = []
    for name, module in _object(_member(agent, "systemModules", agent_path), system_path).items():
        module_path = f"{system_path}.{name}"
        obj = _object(module, module_path)
        image, create_options = _image(obj, module_path)
        system.append(SystemModuleSpec(name, image, _env(obj.get("env", {}), f"{module_path}.env"), create_options))

    modules_path = f"{agent_path}.modules"
    modules = tuple(
        _module(name, module, f"{modules_path}.{name}")
        for name, module in _object(agent.get("modules", {}), modules_path).items()
    )
    names = {spec.name for spec in modules}

    desired: dict[str, JSONObject] = {}
    for twin_name, twin in content.items():
        if twin_name in ("$edgeAgent", "$edgeHub"):
            continue
        twin_path = f"{content_path}.{twin_name}"
        if twin_name not in names:
            raise _fail(twin_path, "desired properties for a module the deployment does not define")
        desired[twin_name] = dict(
            _object(
                _member(_object(twin, twin_path), "properties.desired", twin_path), f"{twin_path}.properties.desired"
            )
        )
        try:
            check_depth(desired[twin_name])  # the hub copies twins recursively
        except TwinPatchError as exc:
            raise _fail(f"{twin_path}.properties.desired", str(exc).replace("the patch", "it")) from None

    return Deployment(
        agent_schema_version=agent_schema,
        hub_schema_version=hub_schema,
        modules=modules,
        system_modules=tuple(system),
        routes=_routes(hub.get("routes", {}), f"{hub_path}.routes"),
        store_ttl_secs=_store_ttl(hub, hub_path),
        desired=desired,
        registry_credentials=_registry_credentials(agent, agent_path),
        store_max_bytes=_store_limit(hub, hub_path),
    )


def load_deployment(path: Path) -> Deployment:
    """Read and parse a manifest file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeploymentError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DeploymentError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeploymentError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise DeploymentError(f"{path}: not valid JSON (nested too deeply)") from None
    return parse_deployment(document, source=path.name)
