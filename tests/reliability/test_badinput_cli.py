"""Bad route strings, manifests, templates, .env files at the CLI: exit 1, one ``error:`` line, no traceback, no hang.

In-process (hypothesis, through ``edgeship.cli.main.main`` exactly as the console script runs it:
an unexpected exception would escape as one) for ``manifest validate``, ``manifest generate`` and
the simulator's own manifest reader (``edgeship sim start`` reads with ``edgesim.deployment``
before it starts anything); then a fixed set of nasty files through the real ``.venv/bin/edgeship``
subprocess with a timeout. The in-process manifest tools are also fuzzed by
tests/manifests/test_manifest_fuzz.py (library level); this is the command-line contract.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeship.cli.main import main
from edgesim.deployment import load_deployment
from edgesim.errors import SimulatorError
from tests.support.badinput import EDGESHIP, REPO_ROOT, next_address

pytestmark = pytest.mark.timeout(300)  # a hang fails the test
VALIDATE = 300  # hypothesis examples: manifests for `manifest validate`
GENERATE = 200  # templates + .env files for `manifest generate`
SIM_READER = 400  # manifests for the simulator's reader
SETTINGS: dict[str, Any] = {"deadline": None, "suppress_health_check": list(HealthCheck)}
TEMPLATE = REPO_ROOT / "manifests" / "deployment.template.json"
# A generated, valid manifest that is in the repository (manifests/deployment.amd64.json is only
# there after `make demo`, never in CI's fresh clone).
MANIFEST = REPO_ROOT / "tests" / "manifests" / "golden" / "deployment.amd64.json"
MODULES = REPO_ROOT / "modules"


def run_in_process(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_info:
        main(list(args))
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out.getvalue(), err.getvalue()


def assert_clean_outcome(code: int, stderr: str, allow_ok: bool = True) -> None:
    assert "Traceback" not in stderr
    if code == 0 and allow_ok:
        return
    assert code == 1, (code, stderr[-500:])
    lines = stderr.strip().splitlines()
    assert lines, "an error without a message"
    assert lines[-1].startswith("error: "), stderr[-500:]
    assert sum(line.startswith("error: ") for line in lines) == 1, stderr[-500:]


ROUTE_WORDS = st.sampled_from(
    [
        "FROM",
        "INTO",
        "WHERE",
        "SELECT",
        "/messages/*",
        "/messages/modules/sentiment/*",
        "$upstream",
        "AND",
        "OR",
        "NOT",
        "(",
        ")",
        'BrokeredEndpoint("/modules/x/inputs/y")',
        "$body.a",
        "=",
        "<>",
        "'s'",
        "1e999",
        "IS_DEFINED(",
        ",",
        '"',
        "\\",
        "\x00",
        "é",
        "$" * 3,
        "/" * 5,
        "((((((((((",
        "))))",
    ]
)
routes = st.one_of(
    st.lists(ROUTE_WORDS, max_size=14).map(" ".join),
    st.text(max_size=60),
    st.integers(1, 3000).map(lambda n: "FROM /messages/* WHERE " + "(" * n + "1" + ")" * n + " INTO $upstream"),
    st.integers(1, 3000).map(lambda n: "FROM /messages/* WHERE " + "NOT " * n + "true INTO $upstream"),
)
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**20),
    st.floats(allow_nan=False),
    st.text(st.sampled_from(list('ab$${}:-_.MODULES/ "\\')), max_size=12),
)
json_values = st.recursive(
    json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=10
)


def mutate(document: Any, data: st.DataObject) -> Any:
    document = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 4))):
        node = document
        while isinstance(node, dict) and node and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], dict) or data.draw(st.booleans()):
                node[key] = data.draw(json_values)
                break
            node = node[key]
    return document


def with_route(document: Any, route: Any) -> Any:
    node = document
    for key in ("modulesContent", "$edgeHub", "properties.desired", "routes"):
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node["fuzz"] = route
    return document


@st.composite
def manifest_texts(draw: st.DrawFn) -> bytes:
    base = json.loads(MANIFEST.read_text(encoding="utf-8"))
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return json.dumps(with_route(base, draw(routes))).encode()
    if choice == 1:
        return json.dumps(mutate(base, draw(st.data()))).encode()
    if choice == 2:
        return draw(st.binary(max_size=200))
    if choice == 3:
        depth = draw(st.integers(1, 50_000))
        return ('{"modulesContent":' + '{"a":' * depth + "1" + "}" * depth + "}").encode()
    if choice == 4:
        text = json.dumps(base)
        cut = draw(st.integers(0, len(text)))
        return (text[:cut] + draw(st.text(max_size=5)) + text[cut:]).encode("utf-8", "surrogatepass")
    return json.dumps(
        with_route(
            mutate(base, draw(st.data())),
            {"route": draw(routes), "priority": draw(json_leaf), "timeToLiveSecs": draw(json_leaf)},
        )
    ).encode()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@settings(max_examples=VALIDATE, **SETTINGS)
@given(text=manifest_texts())
def test_manifest_validate_on_bad_manifests(work: Path, text: bytes) -> None:
    path = work / "deployment.json"
    path.write_bytes(text)
    code, _, stderr = run_in_process("manifest", "validate", str(path), "--modules-dir", str(MODULES))
    assert_clean_outcome(code, stderr)


dotenv_texts = st.one_of(
    st.text(st.sampled_from(list("AB=_ '\"#\\$\nx\texport\x00é")), max_size=80),
    st.lists(
        st.sampled_from(
            [
                "A=1",
                "export B='x y'",
                'C="unterminated',
                "D='also",
                "=novalue",
                "9X=1",
                "E=${E}",
                'F="a\\qb"',
                "G='a' b",
                "H",
                "I=\x00",
                "#",
                "",
            ]
        ),
        max_size=6,
    ).map("\n".join),
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
)


@settings(max_examples=GENERATE, **SETTINGS)
@given(data=st.data(), env=dotenv_texts, raw_env=st.booleans())
def test_manifest_generate_on_bad_templates_and_env_files(
    work: Path, data: st.DataObject, env: str, raw_env: bool
) -> None:
    template = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    choice = data.draw(st.integers(0, 3))
    if choice == 0:
        document: Any = mutate(template, data)
    elif choice == 1:
        document = with_route(template, data.draw(routes))
    elif choice == 2:
        document = template  # only the .env file is bad
    else:
        document = data.draw(json_values)
    template_path = work / "deployment.template.json"
    template_path.write_text(json.dumps(document), encoding="utf-8")
    env_path = work / ".env"
    env_path.write_bytes(env.encode("utf-8", "surrogatepass") if not raw_env else env.encode("latin-1", "replace"))
    out = work / "out.json"
    out.unlink(missing_ok=True)
    code, _, stderr = run_in_process(
        "manifest",
        "generate",
        "--template",
        str(template_path),
        "--env",
        str(env_path),
        "--modules-dir",
        str(MODULES),
        "--out",
        str(out),
    )
    assert_clean_outcome(code, stderr)
    assert out.exists() == (code == 0)  # nothing is written on errors


@settings(max_examples=SIM_READER, **SETTINGS)
@given(text=manifest_texts())
def test_the_simulators_manifest_reader_gives_one_line_errors(work: Path, text: bytes) -> None:
    path = work / "sim-deployment.json"
    path.write_bytes(text)
    try:
        deployment = load_deployment(path)
    except SimulatorError as exc:
        message = str(exc)
        assert message
        assert "\n" not in message
    else:
        assert deployment.module_names


# ---- the same through the real console script, with a timeout --------------------------------------
def run_edgeship(*args: str, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """Run the console script; a hang is stopped (SIGTERM, so a simulator stops its modules) and fails."""
    process = subprocess.Popen(
        [str(EDGESHIP), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        stdout, stderr = process.communicate(timeout=60)
        raise AssertionError(f"edgeship {' '.join(args)} hung for {timeout:g} s: {stderr[-500:]}") from None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def nasty_manifests() -> dict[str, bytes]:
    base = json.loads(MANIFEST.read_text(encoding="utf-8"))
    bad_route = with_route(copy.deepcopy(base), "FROM /messages/* WHERE (((( INTO $upstream")
    deep_route = with_route(
        copy.deepcopy(base), "FROM /messages/* WHERE " + "(" * 5000 + "1" + ")" * 5000 + " INTO $upstream"
    )
    route_object = with_route(copy.deepcopy(base), {"route": 5, "priority": "high", "timeToLiveSecs": -1})
    deep_desired = copy.deepcopy(base)
    nested: Any = 1
    for _ in range(150):
        nested = {"n": nested}
    deep_desired["modulesContent"]["sentiment"] = {"properties.desired": {"thresholds": nested}}
    return {
        "empty": b"",
        "not UTF-8": b'{"modulesContent": "\xff\xfe"}',
        "NUL bytes": b"\x00" * 64,
        "random bytes": bytes(range(256)) * 4,
        "array": b"[1, 2, 3]",
        "deep arrays": b"[" * 100_000,
        "deep objects": ('{"modulesContent":' + '{"a":' * 20_000 + "1" + "}" * 20_000 + "}").encode(),
        "deep desired properties": json.dumps(deep_desired).encode(),
        "bad route": json.dumps(bad_route).encode(),
        "deep route condition": json.dumps(deep_route).encode(),
        "route object of wrong types": json.dumps(route_object).encode(),
        "NaN and duplicate keys": b'{"modulesContent": NaN, "modulesContent": {}}',
        "BOM": "\ufeff".encode() + MANIFEST.read_bytes(),
    }


NASTY = sorted(nasty_manifests())


@pytest.mark.integration
@pytest.mark.parametrize("case", NASTY)
def test_validate_and_sim_start_refuse_nasty_manifests(tmp_path: Path, case: str) -> None:
    path = tmp_path / "deployment.json"
    path.write_bytes(nasty_manifests()[case])
    validated = run_edgeship("manifest", "validate", str(path), "--modules-dir", str(MODULES), cwd=tmp_path)
    assert_clean_outcome(validated.returncode, validated.stderr, allow_ok=False)
    started = run_edgeship(
        "sim",
        "start",
        str(path),
        "--host",
        next_address(),
        "--state",
        str(tmp_path / "state"),
        "--modules-dir",
        str(MODULES),
        cwd=tmp_path,
    )
    assert_clean_outcome(started.returncode, started.stderr, allow_ok=False)
    assert len(started.stderr.strip().splitlines()) == 1  # the simulator's reader: exactly one line
    assert not (tmp_path / "state" / "sim.json").exists()


def nasty_generate_inputs() -> dict[str, tuple[bytes, bytes]]:
    template = TEMPLATE.read_bytes()
    return {
        "unterminated quote in .env": (template, b'A="open\n'),
        "NUL in a .env key": (template, b"A\x00B=1\n"),
        "not UTF-8 .env": (template, b"A=\xff\xfe\n"),
        "binary .env": (template, bytes(range(256))),
        "key that is not a name": (template, b"9LIVES=1\n"),
        "unknown variable in template": (template.replace(b'"./model"', b'"${NOT_DEFINED_ANYWHERE}"'), b""),
        "unterminated ${ in template": (template.replace(b'"./model"', b'"${MODEL_DIR"'), b""),
        "template is not JSON": (b"{ this is not json", b""),
        "template is deep": (b"[" * 100_000, b""),
        "template is not UTF-8": (b'{"modulesContent": "\xff"}', b""),
        "template route is bad": (
            template.replace(
                b"FROM /messages/modules/tweetsource/outputs/tweets",
                b"FROM /messages/modules/tweetsource/outputs/tweets WHERE (((",
            ),
            b"",
        ),
    }


NASTY_GENERATE = sorted(nasty_generate_inputs())


@pytest.mark.integration
@pytest.mark.parametrize("case", NASTY_GENERATE)
def test_generate_refuses_nasty_templates_and_env_files(tmp_path: Path, case: str) -> None:
    template, env = nasty_generate_inputs()[case]
    (tmp_path / "deployment.template.json").write_bytes(template)
    (tmp_path / ".env").write_bytes(env)
    out = tmp_path / "out.json"
    result = run_edgeship(
        "manifest",
        "generate",
        "--template",
        str(tmp_path / "deployment.template.json"),
        "--env",
        str(tmp_path / ".env"),
        "--modules-dir",
        str(MODULES),
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert_clean_outcome(result.returncode, result.stderr, allow_ok=False)
    assert not out.exists()
