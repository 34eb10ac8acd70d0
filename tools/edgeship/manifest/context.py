"""Where checks put their findings: turns (path, message) into positioned diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from edgeship.manifest.problems import Diagnostic, JsonPath, Position, Severity


class Locator(Protocol):
    def locate(self, path: JsonPath, *, key: bool = False) -> Position: ...

    def string_offset(self, path: JsonPath, index: int) -> Position: ...


@dataclass
class Findings:
    locator: Locator
    prefix: JsonPath = ()  # ("content",) for an at-scale deployment document
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(
        self,
        severity: Severity,
        path: JsonPath,
        message: str,
        code: str,
        *,
        key: bool = False,
        string_index: int | None = None,
    ) -> None:
        full = (*self.prefix, *path)
        if string_index is not None:
            position = self.locator.string_offset(full, string_index)
        else:
            position = self.locator.locate(full, key=key)
        self.diagnostics.append(Diagnostic(severity, position, full, message, code))

    def error(
        self, path: JsonPath, message: str, code: str, *, key: bool = False, string_index: int | None = None
    ) -> None:
        self.add(Severity.ERROR, path, message, code, key=key, string_index=string_index)

    def warning(
        self, path: JsonPath, message: str, code: str, *, key: bool = False, string_index: int | None = None
    ) -> None:
        self.add(Severity.WARNING, path, message, code, key=key, string_index=string_index)

    def info(
        self, path: JsonPath, message: str, code: str, *, key: bool = False, string_index: int | None = None
    ) -> None:
        self.add(Severity.INFO, path, message, code, key=key, string_index=string_index)
