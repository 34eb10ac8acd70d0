"""#16's rules for tests/ and bench/, checked on their source (ast), not by running them.

- No ``sys.path`` surgery: tests/ and bench/ are packages imported from the repository root.
- No test module is imported by another module: shared code lives in ``tests.support``, shared
  fixtures in a conftest.py, and pytest alone imports ``test_*.py`` and conftest.py.
- bench/ takes nothing from tests/ but ``tests.support``.
- Every folder of tests/ that holds Python is a package (an ``__init__.py``), so module names never clash.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Modules the simulator launches by path (each a ``main.py``): data of the tests, not part of the package.
LAUNCHED_BY_PATH = tuple(
    REPO / "tests" / folder
    for folder in (
        "reliability/fault_modules",
        "simulator/runtime/modules",
        "simulator/runtime/agentmods",
        "simulator/outage/modules",
    )
)


def _sources(folder: str) -> list[Path]:
    return sorted(p for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)


def _package_of(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])


def _imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of every module an import statement names, ``from x import y`` as x and x.y."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = _package_of(path).split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def _is_test_module(name: str) -> bool:
    return any(part.startswith("test_") or part == "conftest" for part in name.split("."))


def _path_edits(path: Path) -> Iterator[int]:
    """Lines that change ``sys.path`` (a call of one of its methods: insert, append, ...; an assignment to it)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        target: ast.expr
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
        elif isinstance(node, ast.Assign):
            target = node.targets[0]
        elif isinstance(node, ast.AugAssign):
            target = node.target
        else:
            continue
        if (
            isinstance(target, ast.Attribute)
            and target.attr == "path"
            and isinstance(target.value, ast.Name)
            and target.value.id == "sys"
        ):
            yield node.lineno


@pytest.mark.parametrize("folder", ["tests", "bench"])
def test_nothing_edits_sys_path(folder: str) -> None:
    found = [f"{path.relative_to(REPO)}:{line}" for path in _sources(folder) for line in _path_edits(path)]
    assert found == []


def test_the_checks_see_what_they_look_for(tmp_path: Path) -> None:
    """The two detectors on a sample, so an empty result above means clean code, not a blind check."""
    sample = tmp_path / "sample.py"
    edit = "sys.path." + "insert(0, 'x')"  # split, so that a grep of tests/ finds no such call either
    sample.write_text(
        f"import sys\n{edit}\nsys.path += ['y']\nfrom tests.a import test_b\nfrom .conftest import f\n",
        encoding="utf-8",
    )
    assert sorted(_path_edits(sample)) == [2, 3]
    assert _is_test_module("tests.a.test_b")
    assert _is_test_module("conftest.f")
    assert not _is_test_module("tests.support.hub")
    assert not _is_test_module("edgesim.testing")


def test_no_module_imports_a_test_module_or_a_conftest() -> None:
    found = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for folder in ("tests", "bench")
        for path in _sources(folder)
        for line, name in _imported(path)
        if _is_test_module(name)
    ]
    assert found == []


def test_bench_takes_only_the_support_library_from_tests() -> None:
    found = [
        f"{path.relative_to(REPO)}:{line} imports {name}"
        for path in _sources("bench")
        for line, name in _imported(path)
        if name.split(".")[0] == "tests"
        and name != "tests"
        and not (name == "tests.support" or name.startswith("tests.support."))
    ]
    assert found == []


def test_every_folder_of_tests_with_python_is_a_package() -> None:
    folders = {path.parent for path in _sources("tests")}
    missing = sorted(
        str(folder.relative_to(REPO))
        for folder in folders
        if not (folder / "__init__.py").is_file() and not any(folder.is_relative_to(data) for data in LAUNCHED_BY_PATH)
    )
    assert missing == []


def _python_dash_c(path: Path) -> Iterator[int]:
    """Lines with a ``[sys.executable, ..., "-c", ...]`` command: a program passed as a string."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if (
            isinstance(node, ast.List)
            and node.elts
            and ast.unparse(node.elts[0]) == "sys.executable"
            and any(isinstance(e, ast.Constant) and e.value == "-c" for e in node.elts[1:])
        ):
            yield node.lineno


def test_bench_child_programs_are_files() -> None:
    sample = REPO / "bench" / "programs" / "__init__.py"
    assert sample.is_file()
    found = [f"{path.relative_to(REPO)}:{line}" for path in _sources("bench") for line in _python_dash_c(path)]
    assert found == []
