"""`edgeship manifest compose` and `plan` through a real subprocess: output, --explain, one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edgesim.deployment import parse_deployment as sim_parse_deployment
from tests.support.layered_examples import docs_base, docs_layer

pytestmark = pytest.mark.integration


def _edgeship(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeship", "manifest", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _write(folder: Path, name: str, document: Any) -> str:
    path = folder / name
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return str(path)


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_compose_prints_a_manifest_the_simulator_takes(tmp_path: Path) -> None:
    base = _write(tmp_path, "base.json", docs_base())
    layer = _write(
        tmp_path, "layer.json", docs_layer({"properties.desired.layeredProperties": {"StopAfterCount": 1000}})
    )
    result = _edgeship(tmp_path, "compose", base, layer, "--tags", '{"environment": "prod"}', "--explain")
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["modulesContent"]["SimulatedTemperatureSensor"]["properties.desired"] == {
        "SendData": True,
        "SendInterval": 5,
        "layeredProperties": {"StopAfterCount": 1000},
    }
    sim_parse_deployment(manifest, "composed")
    explained = result.stderr.splitlines()
    assert explained[0] == f"base: docs-base ({base}, base, priority 10)"
    assert explained[1] == f"layer: docs-layer ({layer}, layered, priority 20)"
    assert f"$edgeAgent modules.SimulatedTemperatureSensor: docs-layer ({layer})" in explained
    assert f"$edgeHub storeAndForwardConfiguration: docs-base ({base})" in explained
    assert f"SimulatedTemperatureSensor layeredProperties.StopAfterCount: docs-layer ({layer})" in explained
    assert f"SimulatedTemperatureSensor SendData: docs-base ({base})" in explained


def test_compose_writes_out_and_takes_a_twin_file(tmp_path: Path) -> None:
    base = _write(
        tmp_path,
        "base.json",
        docs_base()
        | {"targetCondition": "tags.environment = 'prod' AND properties.reported.model = '4000x' AND deviceId = 'd1'"},
    )
    twin = _write(
        tmp_path, "twin.json", {"tags": {"environment": "prod"}, "properties": {"reported": {"model": "4000x"}}}
    )
    out = tmp_path / "composed.json"
    result = _edgeship(tmp_path, "compose", base, "--tags", f"@{twin}", "--device-id", "d1", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {out}\n"
    assert json.loads(out.read_text(encoding="utf-8")) == {"modulesContent": docs_base()["content"]["modulesContent"]}
    validated = subprocess.run(
        [sys.executable, "-m", "edgeship", "manifest", "validate", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert validated.returncode == 0, validated.stderr


@pytest.mark.parametrize(
    ("files", "tags", "pattern"),
    [
        (
            {"base.json": docs_base() | {"targetCondition": "tags.environment = 'prod' NOT deviceId = 'x'"}},
            "{}",
            r"^error: .*base\.json: targetCondition .* does not parse: column 27: unexpected 'NOT'",
        ),
        (
            {"layer.json": docs_layer({"properties.desired.x": 1})},
            '{"environment": "prod"}',
            r"^error: no base deployment targets this device, only layered ones \(docs-layer \(.*layer\.json, layered",
        ),
        ({"base.json": docs_base() | {"colour": "red"}}, "{}", r"^error: .*base\.json: unknown key 'colour'"),
        ({"base.json": "not json"}, "{}", r"^error: .*base\.json:1:1: not valid JSON"),
        ({"base.json": {"modulesContent": {}}}, "{}", r"^error: .*base\.json: a plain manifest, not an at-scale"),
        ({"base.json": docs_base()}, '{"environment": ', r"^error: --tags: not valid JSON"),
        ({"base.json": docs_base()}, '["prod"]', r"^error: --tags takes a JSON object"),
        ({"base.json": docs_base()}, '{"environment": "dev"}', r"^error: no deployment's targetCondition matches"),
    ],
)
def test_compose_bad_input_is_one_error_line(tmp_path: Path, files: dict[str, Any], tags: str, pattern: str) -> None:
    paths = []
    for name, document in files.items():
        path = tmp_path / name
        path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
        paths.append(str(path))
    line = _one_error_line(_edgeship(tmp_path, "compose", *paths, "--tags", tags))
    assert re.search(pattern, line), line


def test_compose_refuses_an_invalid_result(tmp_path: Path) -> None:
    base = _write(tmp_path, "base.json", docs_base())
    layer = _write(
        tmp_path,
        "layer.json",
        {
            "id": "bad-route",
            "targetCondition": "*",
            "priority": 20,
            "content": {
                "modulesContent": {
                    "$edgeAgent": {},
                    "$edgeHub": {"properties.desired.routes.r": "FROM /messages/* INTO nowhere"},
                }
            },
        },
    )
    result = _edgeship(tmp_path, "compose", base, layer, "--tags", '{"environment": "prod"}')
    assert result.returncode == 1
    assert result.stdout == ""
    assert re.search(r"<composed>:\d+:\d+: error: .*routes\.r: .*nowhere", result.stderr), result.stderr
    assert result.stderr.splitlines()[-1] == "error: the composed deployment is not valid: 1 error(s)"


def test_plan_cli(tmp_path: Path) -> None:
    base = _write(tmp_path, "base.json", docs_base())
    layer = _write(tmp_path, "layer.json", docs_layer({"properties.desired.x": 1}, condition="tags.camera = true"))
    devices = _write(
        tmp_path,
        "devices.json",
        [
            {"deviceId": "a", "tags": {"environment": "prod", "camera": True}},
            {"deviceId": "b", "tags": {"environment": "prod"}},
            {"deviceId": "c", "tags": {"camera": True}},
            {"deviceId": "d", "tags": {}},
        ],
    )
    result = _edgeship(tmp_path, "plan", base, layer, "--devices", devices)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "a: docs-base + docs-layer",
        "b: docs-base",
        "c: - (targeted, not applied: docs-layer)",
        "d: -",
    ]
    assert re.fullmatch(r"docs-base\s+base\s+10\s+2\s+2", lines[5])
    assert re.fullmatch(r"docs-layer\s+layered\s+20\s+2\s+1", lines[6])
    assert re.fullmatch(r"planned 4 device\(s\) against 2 deployment\(s\) in \d+\.\d{3} s\n", result.stderr)
    as_json = json.loads(_edgeship(tmp_path, "plan", base, layer, "--devices", devices, "--json").stdout)
    assert as_json["deployments"]["docs-layer"] == {"layered": True, "priority": 20, "targeted": 2, "applied": 1}
    assert as_json["devices"]["c"] == {"targeted": ["docs-layer"], "applied": []}
    line = _one_error_line(_edgeship(tmp_path, "plan", base, "--devices", str(tmp_path / "none.json")))
    assert line.startswith("error: cannot read ")
    assert "none.json" in line


def test_compose_warns_of_an_equal_priority_guess(tmp_path: Path) -> None:
    first = _write(tmp_path, "first.json", docs_base() | {"id": "first"})
    second = _write(tmp_path, "second.json", docs_base() | {"id": "second"})
    result = _edgeship(tmp_path, "compose", first, second, "--tags", '{"environment": "prod"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["modulesContent"]["$edgeHub"]["properties.desired"]["routes"]
    assert result.stderr == (
        "warning: equal priority 10: base second wins because it comes later among the inputs "
        "(no createdTimeUtc tells which is newer)\n"
    )
