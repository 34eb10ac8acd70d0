"""Semantic checks of a manifest's ``modulesContent`` beyond what a JSON schema can say.

Each check is tolerant of shapes the schema already reported (it skips what it cannot read), so
one broken field never hides the problems of the others.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from edgeship.manifest.context import Findings
from edgeship.manifest.createoptions import check_create_options, chunk_problems, join_create_options
from edgeship.manifest.problems import JsonPath

AGENT = ("modulesContent", "$edgeAgent", "properties.desired")
HUB = ("modulesContent", "$edgeHub", "properties.desired")
MODULE_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
PORTABLE_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FORBIDDEN_ENV_CHARS = re.compile(r"[+#$\s.]")
TWIN_KEY_FORBIDDEN = re.compile(r"[.$ \x00-\x1f\x7f-\x9f]")
MAX_TWIN_BYTES = 32 * 1024
MAX_TWIN_DEPTH = 10
SYSTEM_IMAGES = {"edgeAgent": "mcr.microsoft.com/azureiotedge-agent", "edgeHub": "mcr.microsoft.com/azureiotedge-hub"}
# IoT Edge 1.6 LTS is current (supported to 2028-11-14); 1.5 reached end of support on 2026-11-10 and
# every older release before it (Microsoft's IoT Edge support timeline).
CURRENT_RUNTIME = "1.6"
CURRENT_RUNTIME_END = "2028-11-14"
END_OF_SUPPORT = {"1.5": "2026-11-10"}
END_OF_LIFE_RUNTIMES = ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")
NESTED_IMAGE_PREFIX = "$upstream:"  # nested edge: images pulled through the parent's API proxy
_RUNTIME_TAG = re.compile(r"^1\.(\d+)(\.\d+)?(-linux-[a-z0-9]+)?$")
_IMAGE_REPOSITORY = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def split_image(image: str) -> tuple[str, str | None]:
    """``host:5000/repo:tag`` -> (``host:5000/repo``, ``tag``); a digest counts as a tag."""
    if "@" in image:
        repo, _, digest = image.partition("@")
        return repo, digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon + 1 :]
    return image, None


def dig(value: object, *keys: str) -> dict[str, object]:
    """The object at ``keys`` below ``value``, or {} if anything on the way is not an object."""
    for key in keys:
        value = _dict(value).get(key)
    return _dict(value)


def user_modules(content: object) -> dict[str, object]:
    return dig(content, "$edgeAgent", "properties.desired", "modules")


def check_module_names(findings: Findings, document: Mapping[str, object]) -> None:
    content = _dict(document.get("modulesContent"))
    modules = user_modules(content)
    lowered: dict[str, str] = {}
    for name in modules:
        path = (*AGENT, "modules", name)
        if not MODULE_NAME.match(name):
            findings.error(
                path, f"module name {name!r} may only hold letters, digits, '_' and '-'", "module-name", key=True
            )
        elif name in SYSTEM_IMAGES:
            findings.error(
                path, f"{name!r} is a system module; declare it under systemModules", "module-name", key=True
            )
        elif name.lower() in lowered:
            findings.warning(
                path,
                f"module names {lowered[name.lower()]!r} and {name!r} differ only in case",
                "module-name",
                key=True,
            )
        lowered.setdefault(name.lower(), name)
    for twin in content:
        if twin in ("$edgeAgent", "$edgeHub"):
            continue
        if twin.startswith("$"):
            findings.error(
                ("modulesContent", twin),
                f"{twin!r}: only $edgeAgent and $edgeHub may start with '$'",
                "module-name",
                key=True,
            )
        elif twin not in modules:
            findings.error(
                ("modulesContent", twin),
                f"desired properties for {twin!r}, which $edgeAgent does not deploy (add it under modules)",
                "twin-without-module",
                key=True,
            )


def check_schema_versions(findings: Findings, document: Mapping[str, object]) -> None:
    content = _dict(document.get("modulesContent"))
    agent = _dict(_dict(content.get("$edgeAgent")).get("properties.desired"))
    hub = _dict(_dict(content.get("$edgeHub")).get("properties.desired"))
    # edgeHub and edgeAgent parse the version with System.Version and compare major.minor: "1.1.0" is 1.1
    agent_version, hub_version = _major_minor(agent.get("schemaVersion")), _major_minor(hub.get("schemaVersion"))
    if agent_version == "1.0":
        for name, module in {**user_modules(content), **_dict(agent.get("systemModules"))}.items():
            if isinstance(module, dict) and "startupOrder" in module:
                group = "systemModules" if name in SYSTEM_IMAGES else "modules"
                findings.error(
                    (*AGENT, group, name, "startupOrder"),
                    "startupOrder needs $edgeAgent schemaVersion 1.1",
                    "schema-version",
                )
    if hub_version == "1.0":
        for name, route in _dict(hub.get("routes")).items():
            if isinstance(route, dict):
                findings.error(
                    (*HUB, "routes", name),
                    "route objects (priority, timeToLiveSecs) need $edgeHub schemaVersion 1.1 or later",
                    "schema-version",
                )
    if "mqttBroker" in hub and hub_version in ("1.0", "1.1"):
        findings.error((*HUB, "mqttBroker"), "mqttBroker needs $edgeHub schemaVersion 1.2 or later", "schema-version")
    if hub_version in ("1.2", "1.3"):
        findings.info(
            (*HUB, "schemaVersion"),
            f"schema {hub_version}: edgeship checks the 1.1 features; mqttBroker settings are not checked",
            "schema-version",
        )


def _major_minor(version: object) -> object:
    if isinstance(version, str) and re.fullmatch(r"1\.\d+(\.\d+){0,2}", version):
        return ".".join(version.split(".")[:2])
    return version


def _runtime_version(findings: Findings, name: str, image: str, path: JsonPath) -> str | None:
    repository, tag = split_image(image)
    expected = SYSTEM_IMAGES[name]
    if repository != expected:
        findings.warning(path, f"{name} image {image!r} is not {expected}:<version>", "system-image")
        return None
    if tag is None:
        findings.warning(
            path,
            f"{name} image has no tag (latest is not a supported runtime version); use {expected}:{CURRENT_RUNTIME}",
            "system-image-version",
        )
        return None
    match = _RUNTIME_TAG.match(tag)
    if not match:
        findings.warning(
            path, f"unknown {name} version {tag!r}; the supported release is {CURRENT_RUNTIME}", "system-image-version"
        )
        return None
    minor = f"1.{match.group(1)}"
    if minor in END_OF_LIFE_RUNTIMES:
        ended = END_OF_SUPPORT.get(minor)
        when = f"reached end of support on {ended}" if ended else "is end of life"
        findings.warning(
            path,
            f"{name} {tag}: IoT Edge {minor} {when}; use {CURRENT_RUNTIME} LTS (supported to {CURRENT_RUNTIME_END})",
            "system-image-version",
        )
    elif minor != CURRENT_RUNTIME:
        findings.warning(
            path, f"unknown {name} version {tag!r}; the supported release is {CURRENT_RUNTIME}", "system-image-version"
        )
    return minor


def check_system_modules(findings: Findings, document: Mapping[str, object]) -> None:
    agent = _dict(_dict(_dict(document.get("modulesContent")).get("$edgeAgent")).get("properties.desired"))
    system = _dict(agent.get("systemModules"))
    versions: dict[str, str] = {}
    for name in SYSTEM_IMAGES:
        image = _dict(_dict(system.get(name)).get("settings")).get("image")
        if isinstance(image, str):
            version = _runtime_version(findings, name, image, (*AGENT, "systemModules", name, "settings", "image"))
            if version:
                versions[name] = version
    if len(versions) == 2 and versions["edgeAgent"] != versions["edgeHub"]:
        findings.warning(
            (*AGENT, "systemModules", "edgeHub", "settings", "image"),
            f"edgeHub {versions['edgeHub']} with edgeAgent {versions['edgeAgent']}: run one runtime version",
            "system-image-version",
        )


def check_modules(findings: Findings, document: Mapping[str, object]) -> None:
    """Images, status and restart policy words, env names, createOptions of every module (system ones too)."""
    agent = _dict(_dict(_dict(document.get("modulesContent")).get("$edgeAgent")).get("properties.desired"))
    groups = (("systemModules", _dict(agent.get("systemModules"))), ("modules", _dict(agent.get("modules"))))
    for group, modules in groups:
        for name, module in modules.items():
            if isinstance(module, dict):
                _check_module(findings, (*AGENT, group, name), name, module)


def _check_module(findings: Findings, path: JsonPath, name: str, module: Mapping[str, object]) -> None:
    if module.get("status") == "stopped":
        findings.info((*path, "status"), f"module {name!r} is deployed stopped", "module-status")
    if module.get("restartPolicy") == "never" and name not in SYSTEM_IMAGES:
        findings.info((*path, "restartPolicy"), f"module {name!r} is never restarted after it exits", "restart-policy")
    env = module.get("env")
    if isinstance(env, dict):
        for env_name in env:
            env_path = (*path, "env", env_name)
            if FORBIDDEN_ENV_CHARS.search(env_name) or not env_name:
                findings.error(
                    env_path,
                    f"environment variable name {env_name!r} may not hold '+', '#', '$', '.' or whitespace",
                    "env-name",
                    key=True,
                )
            elif not PORTABLE_ENV_NAME.match(env_name):
                findings.warning(
                    env_path,
                    f"environment variable name {env_name!r} is not a portable shell name "
                    "(letters, digits, '_'); Docker and the simulator pass it on, shells cannot read it",
                    "env-name",
                    key=True,
                )
            elif env_name.startswith("IOTEDGE_"):
                findings.warning(
                    env_path, f"{env_name} is set by the IoT Edge agent and overrides this value", "env-name", key=True
                )
    settings = module.get("settings")
    if not isinstance(settings, dict):
        return
    image = settings.get("image")
    if isinstance(image, str) and name not in SYSTEM_IMAGES:
        _check_user_image(findings, (*path, "settings", "image"), image)
    for key, message, code in chunk_problems(settings):
        findings.error((*path, "settings", *key), message, code)
    text = join_create_options(settings)
    if text is None or not text.strip():
        return
    options_path = (*path, "settings", "createOptions")
    try:
        options = json.loads(text)
    except json.JSONDecodeError as exc:
        findings.error(
            options_path,
            f"createOptions are not valid JSON: {exc.msg} at character {exc.pos}",
            "create-options-json",
            string_index=exc.pos if exc.pos < 512 else None,
        )
        return
    for problem in check_create_options(options):
        findings.add(problem.severity, (*options_path, *problem.path), problem.message, problem.code)


def _check_user_image(findings: Findings, path: JsonPath, image: str) -> None:
    nested = image.startswith(NESTED_IMAGE_PREFIX)
    if "${" in image or (image.startswith("$") and not nested):
        findings.error(
            path, f"unexpanded placeholder in image {image!r}; run edgeship manifest generate", "image-placeholder"
        )
        return
    # $upstream:443/repo:tag is nested edge's documented image host (the parent device's API proxy)
    repository, tag = split_image("upstream" + image[1:] if nested else image)
    if not _IMAGE_REPOSITORY.match(repository):
        findings.error(
            path,
            f"{repository!r} is not a valid image repository (lower case letters, digits, "
            "'.', '_', '-', '/' and an optional :port)",
            "image-name",
        )
    if tag is None:
        findings.warning(path, f"image {image!r} has no tag, so the device runs whatever 'latest' is", "image-tag")


def _twin_problems(findings: Findings, value: object, path: JsonPath, depth: int) -> None:
    if isinstance(value, list):
        # IoT Hub accepts arrays in desired properties today; their items follow the same rules
        for index, item in enumerate(value):
            _twin_problems(findings, item, (*path, index), depth + 1)
        return
    if not isinstance(value, dict):
        if (isinstance(value, float) and value != value) or value in (float("inf"), float("-inf")):
            findings.error(path, "NaN and Infinity are not JSON numbers", "desired-number")
        return
    if depth > MAX_TWIN_DEPTH:
        findings.error(path, f"desired properties nest deeper than {MAX_TWIN_DEPTH} levels", "desired-depth")
        return
    for key, child in value.items():
        if TWIN_KEY_FORBIDDEN.search(key) or not key:
            findings.error(
                (*path, key),
                f"twin property name {key!r} may not hold '.', '$', spaces or control characters",
                "desired-key",
                key=True,
            )
        _twin_problems(findings, child, (*path, key), depth + 1)


def check_desired_properties(findings: Findings, document: Mapping[str, object]) -> None:
    for twin, body in _dict(document.get("modulesContent")).items():
        desired = _dict(body).get("properties.desired")
        if not isinstance(desired, dict):
            continue
        path: JsonPath = ("modulesContent", twin, "properties.desired")
        size = len(json.dumps(desired, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if size > MAX_TWIN_BYTES:
            findings.error(
                path,
                f"desired properties of {twin} are {size} bytes; a twin holds at most {MAX_TWIN_BYTES} (32 KB)",
                "desired-size",
            )
        if twin not in ("$edgeAgent", "$edgeHub"):
            _twin_problems(findings, desired, path, 1)


def check_routes_basics(findings: Findings, document: Mapping[str, object]) -> None:
    hub = _dict(_dict(_dict(document.get("modulesContent")).get("$edgeHub")).get("properties.desired"))
    for name, route in _dict(hub.get("routes")).items():
        if not isinstance(route, dict):
            continue
        priority, ttl = route.get("priority"), route.get("timeToLiveSecs")
        if isinstance(priority, int) and not isinstance(priority, bool) and not 0 <= priority <= 9:
            findings.error(
                (*HUB, "routes", name, "priority"), f"priority {priority} is outside 0 (highest) .. 9", "route-priority"
            )
        if isinstance(ttl, int) and not isinstance(ttl, bool) and ttl < 0:
            findings.error((*HUB, "routes", name, "timeToLiveSecs"), f"timeToLiveSecs {ttl} is negative", "route-ttl")
    store = _dict(hub.get("storeAndForwardConfiguration")).get("timeToLiveSecs")
    if isinstance(store, int) and not isinstance(store, bool) and store < 0:
        findings.error(
            (*HUB, "storeAndForwardConfiguration", "timeToLiveSecs"), f"timeToLiveSecs {store} is negative", "store-ttl"
        )
