"""The layout rules of the design: import names and import direction."""

from __future__ import annotations

import ast
from importlib import metadata
from pathlib import Path

GENERIC = {"tools", "simulator", "modules", "main", "tests", "bench", "manifests"}


def test_no_generic_import_names_installed() -> None:
    files = metadata.files("edgeship") or []
    top_level = {f.parts[0] for f in files if f.parts and not f.parts[0].endswith(".dist-info")}
    assert not top_level & GENERIC, top_level
    # The editable install maps exactly our three packages.
    impl = next((f for f in files if f.name.startswith("_editable_impl_") and f.suffix == ".py"), None)
    if impl is not None:
        text = Path(str(impl.locate())).read_text()
        for name in ("edgeship", "edgesim", "edgeship_sentiment"):
            assert f"'{name}'" in text
        for name in GENERIC:
            assert f"'{name}':" not in text


def _imports(package_dir: Path) -> set[str]:
    found: set[str] = set()
    for path in package_dir.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_import_direction(repo_root: Path) -> None:
    simulator = _imports(repo_root / "simulator" / "edgesim")
    module = _imports(repo_root / "modules" / "sentiment" / "edgeship_sentiment")
    assert "edgeship" not in simulator
    assert not module & {"edgeship", "edgesim", "tensorflow", "tf_keras", "keras", "tf2onnx"}
