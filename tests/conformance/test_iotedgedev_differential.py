"""The iotedgedev oracle: ``iotedgedev genconfig -P <platform>`` and ``edgeship manifest generate`` must
write the same JSON for every template of the corpus and of ``manifests/``, or differ as listed (with
the reason) in ``manifests/README.md``. Skipped with the reason when iotedgedev cannot be installed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from edgeship.errors import ManifestError
from edgeship.manifest import GenerateOptions, generate
from tests.support.corpus import REPO, corpus_dir, load_or_empty
from tests.support.iotedgedev_oracle import Job, Result, ensure_iotedgedev, genconfig_all

pytestmark = pytest.mark.integration

# case id -> why edgeship's output is not iotedgedev's; manifests/README.md lists each (checked below).
SHELL_DEFAULTS = "edgeship expands the shell form ${VAR:-default}; iotedgedev (os.path.expandvars) leaves it as written"
DIFFERENCES: dict[str, str] = {
    "iotedgedev-sharedlib-deployment.escapedpath.template": (
        "${MODULEDIR<.\\sample_module_2>} is a Windows path: iotedgedev on Linux finds no module.json and "
        "fails; edgeship reads the backslash as '/'"
    ),
    **{f"manifests-{platform}": SHELL_DEFAULTS for platform in ("amd64", "arm64v8", "arm32v7")},
}
REFUSED = {  # iotedgedev writes a manifest anyway; edgeship refuses, naming the problem
    c["id"]: c["why"]
    for c in load_or_empty("manifests/index.json", "")
    if c["command"] == "generate" and c["expect"] == "invalid"
}


def template_cases() -> list[dict[str, Any]]:
    cases = [c for c in load_or_empty("manifests/index.json", "") if c["command"] == "generate"]
    ours = [
        {
            "id": f"manifests-{platform}",
            "folder": str(REPO / "manifests"),
            "file": "deployment.template.json",
            "env": None,
            "platform": platform,
            "modules_path": "modules",
        }
        for platform in ("amd64", "arm64v8", "arm32v7")
    ]
    return [*cases, *ours]


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    """Every template through iotedgedev: case id -> its result."""
    executable, why = ensure_iotedgedev()
    if executable is None:
        print(f"skipping the iotedgedev differential test: {why}")
        pytest.skip(why)
    root = tmp_path_factory.mktemp("iotedgedev")
    cases = template_cases()
    jobs: list[Job] = []
    for case in cases:
        source = Path(case.get("folder") or corpus_dir() / "manifests" / case["id"])
        folder = root / case["id"]
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns("config"))
        if "modules_path" in case:  # our layout: modules/ beside manifests/, one up from the template
            shutil.copytree(
                REPO / "modules",
                folder / case["modules_path"],
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.onnx", ".*"),
            )
        jobs.append(Job(folder, case["file"], case["platform"], case.get("modules_path")))
    (root / "home").mkdir()
    results = genconfig_all(executable, jobs, root / "home")
    return {case["id"]: result for case, result in zip(cases, results, strict=True)}


def edgeship_generate(case: dict[str, Any]) -> dict[str, Any] | ManifestError:
    folder = Path(case.get("folder") or corpus_dir() / "manifests" / case["id"])
    env_file = folder / case["env"] if case["env"] else None
    try:
        return generate(GenerateOptions(folder / case["file"], case["platform"], env_file, environ={})).manifest
    except ManifestError as exc:  # ManifestCheckError and ManifestSyntaxError too
        return exc


@pytest.mark.parametrize("case", template_cases(), ids=lambda c: c["id"])
def test_same_manifest_as_iotedgedev(case: dict[str, Any], oracle: dict[str, Result]) -> None:
    result = oracle[case["id"]]
    code, output, theirs = result.exit_code, result.output, result.manifest
    ours = edgeship_generate(case)
    if case["id"] in REFUSED:
        assert isinstance(ours, ManifestError), f"edgeship must refuse {case['id']}: {REFUSED[case['id']]}"
        return
    assert not isinstance(ours, ManifestError), str(ours)
    if case["id"] in DIFFERENCES:
        assert ours != theirs, f"{case['id']} now agrees with iotedgedev: drop it from DIFFERENCES and the README"
        if theirs is None:
            assert code != 0
            return
        # the listed difference and nothing else: every value that differs is one iotedgedev left as ${X:-y}
        differing = leaf_differences(ours, theirs)
        assert differing
        assert all(isinstance(t, str) and ":-" in t and "${" in t for _, _, t in differing), differing
        return
    assert theirs is not None, f"iotedgedev wrote nothing (exit {code}):\n{output}"
    assert ours == theirs


def leaf_differences(ours: Any, theirs: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found: list[tuple[str, Any, Any]] = []
        for key in sorted(set(ours) | set(theirs)):
            found += leaf_differences(ours.get(key), theirs.get(key), f"{path}.{key}")
        return found
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [
            d for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) for d in leaf_differences(a, b, f"{path}[{i}]")
        ]
    return [] if ours == theirs else [(path, ours, theirs)]


def test_every_listed_difference_is_in_the_readme() -> None:
    readme = (REPO / "manifests" / "README.md").read_text(encoding="utf-8")
    for case_id in DIFFERENCES:
        assert f"`{case_id}`" in readme, case_id
