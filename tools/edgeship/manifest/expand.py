"""Expand ``$VAR``, ``${VAR}`` and ``${MODULES.<folder>[.<platform>]}`` inside one template string.

Expansion happens per JSON string after parsing (iotedgedev expands the raw text before parsing),
so a value holding quotes or backslashes can never break the JSON. Rules:

* ``${NAME}``: must be defined (``.env`` or the environment), else an error naming it.
* ``$NAME``: expanded when defined. When not, IoT Edge's own ``$`` words (``$edgeAgent``,
  ``$edgeHub``, ``$upstream``, ``$schema-template``, ``$version``) and everything inside route
  strings (``$body.x``, ``$connectionModuleId``) are kept as written; any other is an error.
* ``${NAME:-default}``: ``default`` when NAME is unset or empty (a shell form iotedgedev lacks;
  it lets the default template work without a ``.env``).
* ``$$`` is a literal ``$``.
* ``${MODULES.<folder>}`` is the module's image for the target platform,
  ``${MODULES.<folder>.<key>}`` for the named ``image.tag.platforms`` key of its module.json (``amd64``,
  ``amd64.debug``, ...), ``${MODULES.<folder>.debug}`` for ``<target platform>.debug`` (iotedgedev's rules;
  see ``ModuleInfo.image``).
* ``${MODULEDIR<path>}`` and ``${MODULEDIR<path>.<key>}`` are the same for the module folder at ``path``
  relative to the template's folder (iotedgedev's shared-library layout). A Windows ``\\`` in the path
  is read as ``/``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgeship.errors import ManifestError
from edgeship.manifest.modulejson import ModuleInfo, load_module_json

IOT_EDGE_WORDS = frozenset({"edgeAgent", "edgeHub", "upstream", "schema", "version"})
_TOKEN = re.compile(r"\$(?:(\$)|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(\{))")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MODULEDIR = re.compile(r"^MODULEDIR<(.+)>(?:\.(.+))?$")


@dataclass(frozen=True)
class ExpansionProblem:
    index: int  # where the offending ``$`` is in the string
    message: str
    code: str


@dataclass(frozen=True)
class Expander:
    variables: Mapping[str, str]
    modules: Mapping[str, ModuleInfo]
    platform: str
    container_tag: str = ""
    template_dir: Path | None = None  # where ${MODULEDIR<path>} paths start
    module_dirs: dict[str, ModuleInfo] = field(default_factory=dict)  # MODULEDIR path -> its module.json

    def _image_for(self, module: ModuleInfo, key: str | None) -> str:
        if key is None:
            key = self.platform
        elif key == "debug":
            key = f"{self.platform}.debug"
        return module.image(key, self.container_tag)

    def _module_image(self, reference: str) -> str:
        folder, _, key = reference[len("MODULES.") :].partition(".")
        if not folder:
            raise ManifestError("expected ${MODULES.<folder>} or ${MODULES.<folder>.<platform>}")
        module = self.modules.get(folder)
        if module is None:
            known = ", ".join(sorted(self.modules)) or "none found"
            raise ManifestError(f"no module folder {folder!r} with a module.json (known: {known})")
        return self._image_for(module, key or None)

    def _module_dir_image(self, reference: str) -> str:
        match = _MODULEDIR.match(reference)
        if match is None:
            raise ManifestError("expected ${MODULEDIR<path>} or ${MODULEDIR<path>.<platform>}")
        relative, key = match.group(1), match.group(2)
        module = self.module_dirs.get(relative)
        if module is None:
            base = self.template_dir or Path(".")
            module = load_module_json(base / relative.replace("\\", "/"), self.variables)
            self.module_dirs[relative] = module
        return self._image_for(module, key)

    def expand(self, text: str, *, in_route: bool = False) -> tuple[str, list[ExpansionProblem]]:
        problems: list[ExpansionProblem] = []
        out: list[str] = []
        last = 0
        for match in _TOKEN.finditer(text):
            out.append(text[last : match.start()])
            last = match.end()
            literal_dollar, braced, bare, open_brace = match.groups()
            if literal_dollar:
                out.append("$")
            elif open_brace:
                problems.append(ExpansionProblem(match.start(), "'${' without a closing '}'", "template-syntax"))
                out.append(match.group(0))
            elif braced is not None:
                out.append(self._braced(braced, match.start(), match.group(0), problems))
            elif bare in self.variables:
                out.append(self.variables[bare])
            else:
                if not in_route and bare not in IOT_EDGE_WORDS:
                    problems.append(
                        ExpansionProblem(
                            match.start(),
                            f"unknown variable ${bare} (not in .env or the environment; write $$ for a literal '$')",
                            "unknown-variable",
                        )
                    )
                out.append(match.group(0))
        out.append(text[last:])
        return "".join(out), problems

    def _braced(self, name: str, index: int, raw: str, problems: list[ExpansionProblem]) -> str:
        if name.startswith("MODULES."):
            try:
                return self._module_image(name)
            except ManifestError as exc:
                problems.append(ExpansionProblem(index, f"${{{name}}}: {exc}", "unknown-module-placeholder"))
                return raw
        if name.startswith("MODULEDIR<"):
            try:
                return self._module_dir_image(name)
            except ManifestError as exc:
                problems.append(ExpansionProblem(index, f"${{{name}}}: {exc}", "unknown-module-placeholder"))
                return raw
        variable, has_default, default = name.partition(":-")
        if not _NAME.match(variable):
            problems.append(ExpansionProblem(index, f"'${{{name}}}' is not a variable name", "template-syntax"))
            return raw
        if has_default:
            return self.variables.get(variable) or default  # shell semantics: unset or empty takes the default
        if name not in self.variables:
            problems.append(
                ExpansionProblem(
                    index, f"unknown variable ${{{name}}} (not in .env or the environment)", "unknown-variable"
                )
            )
            return raw
        return self.variables[name]
