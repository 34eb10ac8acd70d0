"""Diagnostics: what is wrong, how bad, and exactly where (file, line, column, JSON path)."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edgeship.errors import ManifestError
from edgeship.jsontypes import JSONObject

JsonPath = tuple[str | int, ...]
_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def format_path(path: JsonPath) -> str:
    """A readable JSON path: dotted names, ``['...']`` for keys with dots or spaces, ``[n]`` for indexes.

    ``("modulesContent", "$edgeHub", "properties.desired", "routes")`` ->
    ``modulesContent.$edgeHub['properties.desired'].routes``
    """
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _PLAIN_KEY.match(part):
            out.append(f".{part}" if out else part)
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out.append(f"['{escaped}']")
    return "".join(out) or "(document)"


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Position:
    file: str
    line: int  # 1-based
    column: int  # 1-based, in characters


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    position: Position
    path: JsonPath
    message: str
    code: str  # a stable short name of the check, e.g. "route-unknown-module"

    def format(self) -> str:
        where = f"{self.position.file}:{self.position.line}:{self.position.column}"
        what = f"{format_path(self.path)}: " if self.path else ""
        return f"{where}: {self.severity.value}: {what}{self.message} [{self.code}]"

    def to_json(self) -> JSONObject:
        return {
            "severity": self.severity.value,
            "file": self.position.file,
            "line": self.position.line,
            "column": self.position.column,
            "path": format_path(self.path),
            "message": self.message,
            "code": self.code,
        }


@dataclass(frozen=True)
class Report:
    """Every diagnostic of one validation, errors first, in document order within a severity."""

    diagnostics: tuple[Diagnostic, ...]

    @classmethod
    def of(cls, diagnostics: Iterable[Diagnostic]) -> Report:
        order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
        unique = list(dict.fromkeys(diagnostics))
        unique.sort(key=lambda d: (order[d.severity], d.position.line, d.position.column))
        return cls(tuple(unique))

    def of_severity(self, severity: Severity) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is severity]

    @property
    def errors(self) -> list[Diagnostic]:
        return self.of_severity(Severity.ERROR)

    @property
    def warnings(self) -> list[Diagnostic]:
        return self.of_severity(Severity.WARNING)

    def failed(self, strict: bool = False) -> bool:
        return bool(self.errors) or (strict and bool(self.warnings))


class ManifestSyntaxError(ManifestError):
    """A file that is not valid JSON (or .env syntax), with its position."""

    def __init__(self, position: Position, message: str) -> None:
        super().__init__(f"{position.file}:{position.line}:{position.column}: {message}")
        self.position = position
        self.message = message


class ManifestCheckError(ManifestError):
    """Generation or validation found errors; ``diagnostics`` holds every one of them."""

    def __init__(self, summary: str, diagnostics: Sequence[Diagnostic]) -> None:
        super().__init__(summary)
        self.diagnostics = tuple(diagnostics)
