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
  ``${MODULES.<folder>.<platform>}`` for the named one (see ``ModuleInfo.image``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from edgeship.errors import ManifestError
from edgeship.manifest.modulejson import ModuleInfo

IOT_EDGE_WORDS = frozenset({"edgeAgent", "edgeHub", "upstream", "schema", "version"})
_TOKEN = re.compile(r"\$(?:(\$)|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*)|(\{))")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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

    def _module_image(self, reference: str) -> str:
        parts = reference.split(".")
        if len(parts) not in (2, 3) or not parts[1]:
            raise ManifestError("expected ${MODULES.<folder>} or ${MODULES.<folder>.<platform>}")
        module = self.modules.get(parts[1])
        if module is None:
            known = ", ".join(sorted(self.modules)) or "none found"
            raise ManifestError(f"no module folder {parts[1]!r} with a module.json (known: {known})")
        return module.image(parts[2] if len(parts) == 3 else self.platform, self.container_tag)

    def expand(self, text: str, *, in_route: bool = False) -> tuple[str, list[ExpansionProblem]]:
        problems: list[ExpansionProblem] = []
        out: list[str] = []
        last = 0
        for match in _TOKEN.finditer(text):
            out.append(text[last: match.start()])
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
                    problems.append(ExpansionProblem(
                        match.start(), f"unknown variable ${bare} (not in .env or the environment; write $$ for a "
                                       "literal '$')", "unknown-variable"))
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
            problems.append(ExpansionProblem(index, "${MODULEDIR<...>} placeholders are not supported; use "
                                                    "${MODULES.<folder>}", "template-syntax"))
            return raw
        variable, has_default, default = name.partition(":-")
        if not _NAME.match(variable):
            problems.append(ExpansionProblem(index, f"'${{{name}}}' is not a variable name", "template-syntax"))
            return raw
        if has_default:
            return self.variables.get(variable) or default  # shell semantics: unset or empty takes the default
        if name not in self.variables:
            problems.append(ExpansionProblem(index, f"unknown variable ${{{name}}} (not in .env or the environment)",
                                             "unknown-variable"))
            return raw
        return self.variables[name]
