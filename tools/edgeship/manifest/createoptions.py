"""Docker create options: stringify and split for the twin, join and check when validating."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from edgeship.errors import ManifestError
from edgeship.manifest.problems import JsonPath, Severity

MAX_CHUNK = 512  # a twin string value the agent reads in one piece
MAX_CHUNKS = 8  # createOptions + createOptions01..07
CHUNK_KEYS = ("createOptions", *(f"createOptions{i:02d}" for i in range(1, MAX_CHUNKS)))
_CHUNK_KEY = re.compile(r"^(createOptions|createoptions)([0-9]*)$")

# Docker Engine API ContainerCreate body (the subset that means something on a device).
CONTAINER_KEYS = frozenset(
    {
        "Hostname",
        "Domainname",
        "User",
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "ExposedPorts",
        "Tty",
        "OpenStdin",
        "StdinOnce",
        "Env",
        "Cmd",
        "Healthcheck",
        "ArgsEscaped",
        "Image",
        "Volumes",
        "WorkingDir",
        "Entrypoint",
        "NetworkDisabled",
        "MacAddress",
        "OnBuild",
        "Labels",
        "StopSignal",
        "StopTimeout",
        "Shell",
        "HostConfig",
        "NetworkingConfig",
    }
)
HOST_CONFIG_KEYS = frozenset(
    {
        "Binds",
        "ContainerIDFile",
        "LogConfig",
        "NetworkMode",
        "PortBindings",
        "RestartPolicy",
        "AutoRemove",
        "VolumeDriver",
        "VolumesFrom",
        "Mounts",
        "ConsoleSize",
        "Annotations",
        "CapAdd",
        "CapDrop",
        "CgroupnsMode",
        "Dns",
        "DnsOptions",
        "DnsSearch",
        "ExtraHosts",
        "GroupAdd",
        "IpcMode",
        "Cgroup",
        "Links",
        "OomScoreAdj",
        "PidMode",
        "Privileged",
        "PublishAllPorts",
        "ReadonlyRootfs",
        "SecurityOpt",
        "StorageOpt",
        "Tmpfs",
        "UTSMode",
        "UsernsMode",
        "ShmSize",
        "Sysctls",
        "Runtime",
        "Isolation",
        "CpuShares",
        "Memory",
        "NanoCpus",
        "CgroupParent",
        "BlkioWeight",
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
        "CpuPeriod",
        "CpuQuota",
        "CpuRealtimePeriod",
        "CpuRealtimeRuntime",
        "CpusetCpus",
        "CpusetMems",
        "Devices",
        "DeviceCgroupRules",
        "DeviceRequests",
        "KernelMemory",
        "KernelMemoryTCP",
        "MemoryReservation",
        "MemorySwap",
        "MemorySwappiness",
        "OomKillDisable",
        "Init",
        "PidsLimit",
        "Ulimits",
        "CpuCount",
        "CpuPercent",
        "IOMaximumIOps",
        "IOMaximumBandwidth",
        "MaskedPaths",
        "ReadonlyPaths",
    }
)
_PORT = re.compile(r"^[0-9]{1,5}(/(tcp|udp|sctp))?$")
_ENV_ENTRY = re.compile(r"^[^=]+=")


def stringify(options: object) -> str:
    """Compact JSON, as iotedgedev writes it."""
    return json.dumps(options, separators=(",", ":"))


def split_create_options(text: str, module: str) -> dict[str, str]:
    """``createOptions`` / ``createOptions01`` ... pieces of at most 512 characters; more than 8 is refused."""
    pieces = [text[i : i + MAX_CHUNK] for i in range(0, len(text), MAX_CHUNK)] or [""]
    if len(pieces) > MAX_CHUNKS:
        raise ManifestError(
            f"createOptions of module {module!r} are {len(text)} characters; at most "
            f"{MAX_CHUNK * MAX_CHUNKS} fit in the twin ({MAX_CHUNKS} parts of {MAX_CHUNK})"
        )
    return dict(zip(CHUNK_KEYS, pieces, strict=False))


@dataclass(frozen=True)
class OptionProblem:
    severity: Severity
    path: JsonPath  # relative to the createOptions value
    message: str
    code: str


def chunk_problems(settings: Mapping[str, object]) -> list[tuple[JsonPath, str, str]]:
    """Chunk keys beyond 07, gaps, lower-case spellings and over-long pieces: (key path, message, code)."""
    problems: list[tuple[JsonPath, str, str]] = []
    present = [key for key in settings if _CHUNK_KEY.match(key)]
    for key in present:
        value = settings[key]
        if key not in CHUNK_KEYS:
            problems.append(
                (
                    (key,),
                    f"{key} is not read by the IoT Edge agent (it reads createOptions and createOptions01..07)",
                    "create-options-chunks",
                )
            )
        elif isinstance(value, str) and len(value) > MAX_CHUNK:
            problems.append(
                (
                    (key,),
                    f"{len(value)} characters; each createOptions part holds at most {MAX_CHUNK}",
                    "create-options-too-long",
                )
            )
    used = [key for key in CHUNK_KEYS if key in settings]
    if used and used != list(CHUNK_KEYS[: len(used)]):
        first_gap = next(key for key in CHUNK_KEYS if key not in settings)
        problems.append(
            ((used[-1],), f"{first_gap} is missing, so the agent ignores the parts after it", "create-options-chunks")
        )
    return problems


def join_create_options(settings: Mapping[str, object]) -> str | None:
    parts: list[str] = []
    for key in CHUNK_KEYS:
        value = settings.get(key)
        if not isinstance(value, str):
            break
        parts.append(value)
    return "".join(parts) if parts else None


def _check_ports(value: object, path: JsonPath, port_bindings: bool) -> list[OptionProblem]:
    if not isinstance(value, dict):
        return [
            OptionProblem(
                Severity.ERROR, path, 'expected an object keyed by "<port>/<protocol>"', "create-options-type"
            )
        ]
    problems: list[OptionProblem] = []
    for port, bindings in value.items():
        if not _PORT.match(port):
            problems.append(
                OptionProblem(
                    Severity.ERROR,
                    (*path, port),
                    f'{port!r} is not "<port>/tcp" or "<port>/udp"',
                    "create-options-type",
                )
            )
        if not port_bindings:
            continue
        if not isinstance(bindings, list) or not all(isinstance(b, dict) for b in bindings):
            problems.append(
                OptionProblem(
                    Severity.ERROR, (*path, port), 'expected a list of {"HostPort": "..."}', "create-options-type"
                )
            )
            continue
        for index, binding in enumerate(bindings):
            host_port = binding.get("HostPort")
            if host_port is not None and not isinstance(host_port, str):
                problems.append(
                    OptionProblem(
                        Severity.ERROR,
                        (*path, port, index, "HostPort"),
                        f'HostPort must be a string ("{host_port}"); Docker refuses a number',
                        "create-options-type",
                    )
                )
    return problems


def _string_list(value: object, path: JsonPath, what: str) -> list[OptionProblem]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return []
    return [OptionProblem(Severity.ERROR, path, f"expected a list of strings ({what})", "create-options-type")]


def check_create_options(options: object) -> list[OptionProblem]:
    """Known keys (unknown: warning) and the types Docker insists on (wrong: error)."""
    if not isinstance(options, dict):
        return [OptionProblem(Severity.ERROR, (), "createOptions must be a JSON object", "create-options-json")]
    problems: list[OptionProblem] = []
    for key in options:
        if key not in CONTAINER_KEYS:
            problems.append(
                OptionProblem(
                    Severity.WARNING, (key,), f"unknown Docker create option {key!r}", "create-options-unknown-key"
                )
            )
    env = options.get("Env")
    if env is not None:
        problems += _string_list(env, ("Env",), "NAME=value")
        if isinstance(env, list):
            for index, entry in enumerate(env):
                if isinstance(entry, str) and not _ENV_ENTRY.match(entry):
                    problems.append(
                        OptionProblem(
                            Severity.ERROR, ("Env", index), f"{entry!r} is not NAME=value", "create-options-type"
                        )
                    )
    for key in ("Cmd", "Entrypoint"):
        if key in options and not isinstance(options[key], str):
            problems += _string_list(options[key], (key,), "the command and its arguments")
    if "ExposedPorts" in options:
        problems += _check_ports(options["ExposedPorts"], ("ExposedPorts",), port_bindings=False)
    labels = options.get("Labels")
    if labels is not None and (not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values())):
        problems.append(
            OptionProblem(Severity.ERROR, ("Labels",), "expected an object of strings", "create-options-type")
        )
    host = options.get("HostConfig")
    if host is None:
        return problems
    if not isinstance(host, dict):
        return [*problems, OptionProblem(Severity.ERROR, ("HostConfig",), "expected an object", "create-options-type")]
    for key in host:
        if key not in HOST_CONFIG_KEYS:
            problems.append(
                OptionProblem(
                    Severity.WARNING,
                    ("HostConfig", key),
                    f"unknown Docker HostConfig option {key!r}",
                    "create-options-unknown-key",
                )
            )
    if "PortBindings" in host:
        problems += _check_ports(host["PortBindings"], ("HostConfig", "PortBindings"), port_bindings=True)
    if "Binds" in host:
        problems += _string_list(host["Binds"], ("HostConfig", "Binds"), '"host-path:container-path[:options]"')
    if "Mounts" in host and not (isinstance(host["Mounts"], list) and all(isinstance(m, dict) for m in host["Mounts"])):
        problems.append(
            OptionProblem(
                Severity.ERROR, ("HostConfig", "Mounts"), "expected a list of mount objects", "create-options-type"
            )
        )
    for flag in ("Privileged", "ReadonlyRootfs", "PublishAllPorts", "AutoRemove", "Init"):
        value = host.get(flag)
        if flag not in host or isinstance(value, bool):
            continue
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            # edgeAgent reads createOptions with Newtonsoft, which converts "true"/"false" to a boolean
            problems.append(
                OptionProblem(
                    Severity.WARNING,
                    ("HostConfig", flag),
                    f"{value!r} is a string; edgeAgent reads it as {value.strip().lower()}, but write the JSON boolean",
                    "create-options-coerced",
                )
            )
            continue
        problems.append(
            OptionProblem(Severity.ERROR, ("HostConfig", flag), "expected true or false", "create-options-type")
        )
    if host.get("Privileged") is True or str(host.get("Privileged")).strip().lower() == "true":
        problems.append(
            OptionProblem(
                Severity.INFO,
                ("HostConfig", "Privileged"),
                "the module runs privileged (full access to the device)",
                "create-options-privileged",
            )
        )
    return problems
