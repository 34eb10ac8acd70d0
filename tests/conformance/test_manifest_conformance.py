"""Every manifest case of the conformance corpus through the real CLI (in process, `edgeship manifest`):
a valid case exits 0 (warnings allowed), an invalid one exits 1 with an error naming its problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeship.cli.main import main
from tests.support.corpus import corpus_dir, load_or_empty, params

CASES = load_or_empty("manifests/index.json", "")


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(["manifest", *args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:  # pragma: no cover - main always exits
        code = 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_case(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    folder = corpus_dir() / "manifests" / case["id"]
    monkeypatch.chdir(folder)
    if case["command"] == "validate":
        return run_cli(["validate", case["file"]], capsys)
    out = tmp_path / f"deployment.{case['platform']}.json"
    args = ["generate", "--template", case["file"], "--platform", case["platform"], "--out", str(out)]
    if case["env"] is not None:
        args += ["--env", case["env"]]
    code, stdout, stderr = run_cli(args, capsys)
    if code == 0:
        assert out.is_file()
    return code, stdout, stderr


@pytest.mark.parametrize("case", params(CASES), ids=lambda c: c["id"])
def test_manifest_case(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, stdout, stderr = run_case(case, tmp_path, capsys, monkeypatch)
    if case["expect"] == "valid":
        assert code == 0, f"{case['id']} ({case['why']}):\n{stderr}"
    else:
        assert code == 1, f"{case['id']} must be refused ({case['why']}):\n{stdout}{stderr}"
        assert "error" in stderr


def test_corpus_is_complete() -> None:
    if not CASES:
        pytest.skip(f"conformance corpus not found at {corpus_dir()} (set EDGESHIP_CONFORMANCE)")
    assert len(CASES) == 53


@pytest.mark.parametrize("case", params([c for c in CASES if c["expect"] == "valid"]), ids=lambda c: c["id"])
def test_simulator_reads_every_valid_manifest(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sim start` reads what `validate` accepts (createOptions "", route objects, layered-free manifests)."""
    from edgesim.deployment import load_deployment

    code, _, stderr = run_case(case, tmp_path, capsys, monkeypatch)
    assert code == 0, stderr
    path = Path(case["file"]) if case["command"] == "validate" else tmp_path / f"deployment.{case['platform']}.json"
    deployment = load_deployment(path)
    assert deployment.agent_schema_version
