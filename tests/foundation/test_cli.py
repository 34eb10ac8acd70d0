"""The CLI skeleton: instant help, one-line errors, exit codes."""

from __future__ import annotations

import subprocess
import sys

import edgeship

HEAVY = ("tensorflow", "onnxruntime", "tf_keras", "tf2onnx", "onnx")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeship", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_help_imports_no_heavy_module() -> None:
    probe = (
        "import sys\n"
        "from edgeship.cli.main import cli\n"
        "try:\n"
        "    cli.main(args=['--help'], prog_name='edgeship', standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert "Commands:" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_every_group_listed_in_help() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for group in ("model", "package", "manifest", "sim", "deploy", "service", "bench", "demo"):
        assert f"  {group} " in result.stdout


def test_each_group_help_imports_no_heavy_module() -> None:
    from edgeship.cli.main import COMMANDS

    probe = (
        "import sys\n"
        "from edgeship.cli.main import cli\n"
        f"for name in {list(COMMANDS)!r}:\n"
        "    try:\n"
        "        cli.main(args=[name, '--help'], prog_name='edgeship', standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"edgeship, version {edgeship.__version__}"


def test_unknown_command_is_a_usage_error() -> None:
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_expected_error_is_one_line_exit_1() -> None:
    from edgeship.cli.main import _one_line

    assert _one_line("first\n  second \n\n") == "first; second"


def test_expected_error_from_a_command_has_no_traceback() -> None:
    # A registry lookup of a name that cannot exist is an expected error in every version.
    result = run_cli("model", "show", "../etc/passwd")
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 or result.returncode == 2
