"""#16's structure rules: no part of edgeship imports its CLI; the project steps live in one module."""

from __future__ import annotations

import ast
from pathlib import Path


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_only_the_cli_and_main_import_the_cli(repo_root: Path) -> None:
    package = repo_root / "tools" / "edgeship"
    leaks = {
        str(path.relative_to(package)): sorted(m for m in _imported_modules(path) if m.startswith("edgeship.cli"))
        for path in package.rglob("*.py")
        if path.parent != package / "cli" and path.name != "__main__.py"
    }
    assert {name: found for name, found in leaks.items() if found} == {}


def test_find_project_lives_in_edgeship_project(repo_root: Path) -> None:
    package = repo_root / "tools" / "edgeship"
    owners = [
        str(path.relative_to(package)) for path in package.rglob("*.py") if "def find_project(" in path.read_text()
    ]
    assert owners == ["project.py"]
