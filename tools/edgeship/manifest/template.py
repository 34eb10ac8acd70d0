"""Generate a deployment manifest from an iotedgedev ``deployment.template.json``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgeship.errors import ManifestError
from edgeship.jsontypes import JSONObject, JSONValue
from edgeship.manifest.checks import HUB, dig
from edgeship.manifest.createoptions import split_create_options, stringify
from edgeship.manifest.dotenv import load_dotenv
from edgeship.manifest.expand import Expander
from edgeship.manifest.jsonpos import Document, parse_json
from edgeship.manifest.modulejson import PLATFORMS, ModuleInfo, discover_modules
from edgeship.manifest.problems import Diagnostic, JsonPath, ManifestCheckError, Position, Report, Severity
from edgeship.manifest.validate import validate_document

TEMPLATE_SCHEMA_KEY = "$schema-template"
KNOWN_TEMPLATE_SCHEMAS = ("4.0.0",)


@dataclass
class OriginLocator:
    """Positions in the template for paths of the generated manifest."""

    template: Document
    origins: dict[JsonPath, JsonPath] = field(default_factory=dict)  # generated path -> template path
    rewritten: set[JsonPath] = field(default_factory=set)  # strings expansion changed (offsets no longer match)

    def _origin(self, path: JsonPath) -> JsonPath:
        probe = path
        while probe and probe not in self.origins:
            probe = probe[:-1]
        return self.origins.get(probe, ())

    def locate(self, path: JsonPath, *, key: bool = False) -> Position:
        return self.template.locate(self._origin(path), key=key and path in self.origins)

    def string_offset(self, path: JsonPath, index: int) -> Position:
        if path in self.origins and path not in self.rewritten:
            return self.template.string_offset(self.origins[path], index)
        return self.locate(path)


@dataclass(frozen=True)
class GenerateOptions:
    template: Path
    platform: str = "amd64"
    env_file: Path | None = None  # None: no .env (a missing default .env is not an error)
    modules_dir: Path | None = None  # None: see default_modules_dir
    environ: Mapping[str, str] | None = None  # None: os.environ


@dataclass(frozen=True)
class Generated:
    manifest: JSONObject
    report: Report
    template_schema: str


def _is_route(path: JsonPath) -> bool:
    return len(path) >= 5 and path[:3] == HUB and path[3] == "routes"


class _Builder:
    def __init__(self, template: Document, expander: Expander) -> None:
        self.template = template
        self.expander = expander
        self.locator = OriginLocator(template)
        self.diagnostics: list[Diagnostic] = []

    def problem(
        self, template_path: JsonPath, out_path: JsonPath, index: int | None, message: str, code: str, key: bool = False
    ) -> None:
        position = (
            self.template.string_offset(template_path, index)
            if index is not None and not key
            else self.template.locate(template_path, key=key)
        )
        self.diagnostics.append(Diagnostic(Severity.ERROR, position, out_path, message, code))

    def text(self, value: str, template_path: JsonPath, out_path: JsonPath, key: bool = False) -> str:
        expanded, problems = self.expander.expand(value, in_route=_is_route(out_path) and not key)
        for problem in problems:
            self.problem(template_path, out_path, None if key else problem.index, problem.message, problem.code, key)
        return expanded

    def build_object(self, value: JSONObject, template_path: JsonPath, out_path: JsonPath) -> JSONObject:
        self.locator.origins[out_path] = template_path
        result: JSONObject = {}
        for key, child in value.items():
            if not template_path and key == TEMPLATE_SCHEMA_KEY:
                continue
            new_key = self.text(key, (*template_path, key), (*out_path, key), key=True)
            result[new_key] = self.build(child, (*template_path, key), (*out_path, new_key))
        return result

    def build(self, value: JSONValue, template_path: JsonPath, out_path: JsonPath) -> JSONValue:
        if isinstance(value, dict):
            return self.build_object(value, template_path, out_path)
        self.locator.origins[out_path] = template_path
        if isinstance(value, list):
            return [self.build(item, (*template_path, i), (*out_path, i)) for i, item in enumerate(value)]
        if isinstance(value, str):
            expanded = self.text(value, template_path, out_path)
            if expanded != value:
                self.locator.rewritten.add(out_path)
            return expanded
        return value

    def create_options(self, manifest: Mapping[str, object]) -> None:
        """createOptions written as objects become compact JSON strings, split into the twin's parts; in a
        base template, an at-scale or layered one (``content.modulesContent``), and in layered keys such as
        ``properties.desired.modules.<name>``, as iotedgedev does."""
        for settings, path, name in _module_settings(manifest):
            if "createOptions" not in settings:
                continue
            options = settings["createOptions"]
            text = options if isinstance(options, str) else stringify(options)
            if isinstance(options, str) and len(text) <= 512:
                continue
            try:
                parts = split_create_options(text, name)
            except ManifestError as exc:
                self.problem(self.locator.origins.get(path, ()), path, None, str(exc), "create-options-too-long")
                continue
            origin = self.locator.origins.get(path, ())
            position = list(settings.items())
            settings.clear()
            for key, value in position:  # keep the key order: parts go where createOptions was
                if key == "createOptions":
                    for part_key, part in parts.items():
                        settings[part_key] = part
                        self.locator.origins[(*path[:-1], part_key)] = origin
                        self.locator.rewritten.add((*path[:-1], part_key))
                else:
                    settings[key] = value


def _module_settings(manifest: Mapping[str, object]) -> list[tuple[dict[str, object], JsonPath, str]]:
    """(settings, path of its createOptions, module name) of every module a template declares, wherever
    it sits."""
    content_path: JsonPath = ("modulesContent",)
    content = manifest.get("modulesContent")
    if not isinstance(content, dict):
        content_path, content = ("content", "modulesContent"), dig(manifest, "content", "modulesContent")
    agent = content.get("$edgeAgent") if isinstance(content, dict) else None
    found: list[tuple[dict[str, object], JsonPath, str]] = []
    if not isinstance(agent, dict):
        return found
    base: JsonPath = (*content_path, "$edgeAgent")

    def add(module: object, path: JsonPath, name: str) -> None:
        settings = module.get("settings") if isinstance(module, dict) else None
        if isinstance(settings, dict):
            found.append((settings, (*path, "settings", "createOptions"), name))

    for key, value in agent.items():
        prefix = key.split(".")
        if key == "properties.desired" and isinstance(value, dict):
            for group in ("systemModules", "modules"):
                for name, module in dig(value, group).items():
                    add(module, (*base, key, group, name), name)
            continue
        layered = prefix[:2] == ["properties", "desired"] and prefix[2:3] in (["modules"], ["systemModules"])
        if layered and len(prefix) == 3 and isinstance(value, dict):
            for name, module in value.items():
                add(module, (*base, key, name), name)
        elif layered and len(prefix) == 4:
            add(value, (*base, key), prefix[3])
    return found


def default_modules_dir(near: Path) -> Path:
    """``modules/`` beside ``near`` (iotedgedev's layout) or one folder up (ours: manifests/ and modules/)."""
    folder = near.resolve().parent
    for candidate in (folder / "modules", folder.parent / "modules"):
        if candidate.is_dir():
            return candidate
    return Path("modules")


def read_variables(options: GenerateOptions) -> dict[str, str]:
    """``.env`` values, overridden by the environment (CI sets secrets there)."""
    variables: dict[str, str] = {}
    if options.env_file is not None:
        variables.update(load_dotenv(options.env_file))
    variables.update(os.environ if options.environ is None else options.environ)
    return variables


def generate(options: GenerateOptions, modules: Mapping[str, ModuleInfo] | None = None) -> Generated:
    """Expand, convert and validate; ``ManifestCheckError`` lists every error (with template positions)."""
    if options.platform not in PLATFORMS:
        raise ManifestError(f"unknown platform {options.platform!r}; expected one of {', '.join(PLATFORMS)}")
    try:
        text = options.template.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ManifestError(f"cannot read template {options.template}: {reason}") from None
    template = parse_json(text, str(options.template))
    if not isinstance(template.value, dict):
        raise ManifestError(f"{options.template}: a template is a JSON object with modulesContent")
    variables = read_variables(options)
    if modules is None:
        modules = discover_modules(options.modules_dir or default_modules_dir(options.template), variables)
    expander = Expander(
        variables, modules, options.platform, variables.get("CONTAINER_TAG", ""), options.template.resolve().parent
    )
    builder = _Builder(template, expander)
    schema_version = template.value.get(TEMPLATE_SCHEMA_KEY)
    manifest = builder.build_object(template.value, (), ())
    builder.create_options(manifest)
    if schema_version is not None and schema_version not in KNOWN_TEMPLATE_SCHEMAS:
        builder.diagnostics.append(
            Diagnostic(
                Severity.WARNING,
                template.locate((TEMPLATE_SCHEMA_KEY,)),
                (TEMPLATE_SCHEMA_KEY,),
                f"template schema {schema_version!r}; edgeship reads iotedgedev's 4.0.0 format",
                "template-schema",
            )
        )
    report = validate_document(manifest, builder.locator, modules, template.duplicates)
    # A placeholder expansion already explained stays out of the validator's "unexpanded" errors.
    explained = {d.path for d in builder.diagnostics}
    report = Report.of([*builder.diagnostics, *(d for d in report.diagnostics if d.path not in explained)])
    if report.errors:
        raise ManifestCheckError(f"{len(report.errors)} error(s) in {options.template}", report.diagnostics)
    return Generated(manifest, report, str(schema_version or ""))
