"""Validate a deployment manifest: our schema for 1.1, then the semantic checks; every problem at once."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path

import jsonschema

from edgeship.errors import ManifestError
from edgeship.manifest.checks import (
    check_desired_properties,
    check_module_names,
    check_modules,
    check_routes_basics,
    check_schema_versions,
    check_system_modules,
    split_image,
    user_modules,
)
from edgeship.manifest.context import Findings, Locator
from edgeship.manifest.jsonpos import Document, parse_json
from edgeship.manifest.modulejson import Interface, ModuleInfo
from edgeship.manifest.problems import JsonPath, Report, Severity
from edgeship.manifest.routecheck import check_route_targets, parse_routes

SCHEMA_FILE = "deployment-1.1.schema.json"


@cache
def own_schema() -> dict[str, object]:
    text = resources.files("edgeship.manifest").joinpath("schemas", SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, object] = json.loads(text)
    return schema


def _schema_message(error: jsonschema.ValidationError) -> tuple[JsonPath, str, bool]:
    """A short message for a schema error, the path to point at and whether that is a key."""
    path: JsonPath = tuple(error.absolute_path)
    validator, value = error.validator, error.validator_value
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(value)
        return path, f"missing required property {missing!r}", False
    if validator == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in known] if isinstance(error.instance, dict) else []
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        extra = [k for k in extra if not any(p.search(k) for p in patterns)]
        if extra:
            return (*path, extra[0]), f"unknown property {extra[0]!r}", True
    if validator == "pattern" and path and path[-1] == "schemaVersion":
        versions = "1.0, 1.1, 1.2, 1.3" if "$edgeHub" in path else "1.0, 1.1"
        return path, f"{error.instance!r} is not one of: {versions} (a third part, as in 1.1.0, is allowed)", False
    if validator in ("enum", "const"):
        choices = value if validator == "enum" else [value]
        return path, f"{error.instance!r} is not one of: {', '.join(map(str, choices))}", False
    if validator == "type":
        return (
            path,
            f"expected {value if isinstance(value, str) else ' or '.join(value)}, got {type(error.instance).__name__}",
            False,
        )
    if validator == "propertyNames":
        return path, f"name {error.instance!r} may not hold '.', '$', '#' or spaces", False
    if validator == "anyOf" and path and "routes" in path:
        return path, 'a route is a string or {"route": ..., "priority": 0-9, "timeToLiveSecs": n}', False
    return path, error.message, False


def schema_findings(findings: Findings, document: object) -> None:
    validator = jsonschema.Draft7Validator(own_schema())
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        path, message, is_key = _schema_message(error)
        prefix_len = len(findings.prefix)
        where = path[prefix_len:] if path[:prefix_len] == findings.prefix else path
        if is_key and message.startswith("unknown property '_"):
            # "_comment" keys: edgeAgent and edgeHub deserialise with Newtonsoft, which skips unknown members
            findings.warning(where, f"{message}: IoT Edge ignores it", "ignored-property", key=True)
            continue
        findings.error(where, message, "schema", key=is_key)


def resolve_interfaces(
    document: Mapping[str, object], modules: Mapping[str, ModuleInfo]
) -> dict[str, Interface | None]:
    """Deployed module -> declared interface: the folder of the same name, else the module.json whose
    repository the image comes from."""
    by_repository = {info.repository.lower(): info for info in modules.values()}
    result: dict[str, Interface | None] = {}
    for name, module in user_modules(document.get("modulesContent", {})).items():
        info = modules.get(name)
        if info is None and isinstance(module, dict):
            image = module.get("settings", {}).get("image") if isinstance(module.get("settings"), dict) else None
            if isinstance(image, str):
                info = by_repository.get(split_image(image)[0].lower())
        result[name] = info.interface if info else None
    return result


def _is_layered(content: Mapping[str, object]) -> bool:
    return any(
        isinstance(twin, dict) and any(k.startswith("properties.desired.") for k in twin) for twin in content.values()
    )


def validate_document(
    document: object,
    locator: Locator,
    modules: Mapping[str, ModuleInfo],
    duplicates: list[tuple[JsonPath, int]] | None = None,
) -> Report:
    findings = Findings(locator)
    if not isinstance(document, dict):
        findings.error((), "a manifest is a JSON object with modulesContent", "schema")
        return Report.of(findings.diagnostics)
    manifest: Mapping[str, object] = document
    if "modulesContent" not in document and isinstance(document.get("content"), dict):
        findings.prefix = ("content",)  # an at-scale deployment document
        manifest = document["content"]
        content = manifest.get("modulesContent")
        if isinstance(content, dict) and _is_layered(content):
            findings.info(
                ("modulesContent",),
                "layered deployment: only its own parts are checked (the base deployment it adds to is not known here)",
                "layered",
            )
            check_desired_properties(findings, manifest)
            return Report.of(findings.diagnostics)
    schema_findings(findings, manifest)
    schema_paths = {d.path for d in findings.diagnostics}
    semantic_start = len(findings.diagnostics)
    check_module_names(findings, manifest)
    check_schema_versions(findings, manifest)
    check_system_modules(findings, manifest)
    check_modules(findings, manifest)
    check_desired_properties(findings, manifest)
    check_routes_basics(findings, manifest)
    parsed = parse_routes(findings, manifest)
    check_route_targets(findings, manifest, parsed, resolve_interfaces(manifest, modules))
    for path, _offset in duplicates or []:
        findings.warning(
            path[len(findings.prefix) :],
            f"duplicate key {path[-1]!r}; only the last one counts",
            "duplicate-key",
            key=True,
        )
    # One problem, one message: a semantic error replaces the schema's generic one at the same path.
    # A route object's generic "string or object" message goes when a semantic error says what is wrong inside it.
    semantic_error_paths = {d.path for d in findings.diagnostics[semantic_start:] if d.severity is Severity.ERROR}

    def superseded(path: JsonPath, message: str) -> bool:
        if path in semantic_error_paths:
            return True
        return message.startswith("a route is") and any(p[: len(path)] == path for p in semantic_error_paths)

    kept = [
        d
        for i, d in enumerate(findings.diagnostics)
        if i >= semantic_start or d.path not in schema_paths or not superseded(d.path, d.message)
    ]
    return Report.of(kept)


def validate_text(text: str, source: str, modules: Mapping[str, ModuleInfo]) -> tuple[Document, Report]:
    document = parse_json(text, source)
    return document, validate_document(document.value, document, modules, document.duplicates)


def validate_file(path: Path, modules: Mapping[str, ModuleInfo]) -> Report:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return validate_text(text, str(path), modules)[1]
