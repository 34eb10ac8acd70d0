"""Entry point of the ``edgeship`` command.

Command groups live one per module (``edgeship.cli.<name>``, each exporting ``cli``) and are
imported only when invoked, so ``edgeship --help`` stays instant and never imports TensorFlow or
onnxruntime. Expected errors (``EdgeshipError`` and the simulator's ``SimulatorError``) become
``error: <one line>`` on stderr with exit code 1; usage errors exit 2; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click

from edgeship import __version__
from edgeship.errors import EdgeshipError

# name -> (module, one-line help). The help text lives here so listing commands imports nothing.
COMMANDS: dict[str, tuple[str, str]] = {
    "model": ("edgeship.cli.model", "Register, list, show, download and delete models in the local registry."),
    "package": ("edgeship.cli.package", "Convert a registered Keras model to an ONNX edge model folder, parity-gated."),
    "fixture": ("edgeship.cli.fixture", "Build reference model folders in the seed's format (trains with TensorFlow)."),
    "manifest": ("edgeship.cli.manifest", "Generate and validate IoT Edge deployment manifests."),
    "build": ("edgeship.cli.build", "Build module images per platform through a Docker engine."),
    "image": ("edgeship.cli.image", "Make the stand-in base image for offline module builds."),
    "push": ("edgeship.cli.push", "Push module images to a registry with the credentials in .env."),
    "sim": ("edgeship.cli.sim", "Run a deployment offline in the local edge runtime simulator."),
    "deploy": ("edgeship.cli.deploy", "Deploy a registered model as a local web service or to the simulator."),
    "service": ("edgeship.cli.service", "List, inspect, read logs of and delete services started by deploy."),
    "bench": ("edgeship.cli.bench", "Run the benchmarks in bench/ against their baselines."),
    "demo": ("edgeship.cli.demo", "Run the whole path end to end on embedded defaults."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command = module.cli
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry[0]}.cli is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="edgeship")
def cli() -> None:
    """edgeship: ship a model trained anywhere to Azure IoT Edge devices.

    Register a model, package it as an ONNX edge module, generate validated deployment
    manifests, and run the deployment offline in a local IoT Edge runtime simulator.
    """


def _one_line(message: str) -> str:
    return "; ".join(part.strip() for part in message.strip().splitlines() if part.strip())


def _expected_errors() -> tuple[type[BaseException], ...]:
    # The simulator's errors are expected too; edgesim is light to import.
    from edgesim.errors import SimulatorError

    return (EdgeshipError, SimulatorError)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; never returns."""
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="edgeship", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except _expected_errors() as exc:
        click.echo(f"error: {_one_line(str(exc)) or type(exc).__name__}", err=True)
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
