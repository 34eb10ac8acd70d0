"""`edgeship deploy`: the seed's `az ml model deploy`, on this machine."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgeship.cli._common import registry_option
from edgeship.registry import Registry, resolve_registry_root
from edgeship.services import ServiceStore, load_deployment_config, load_inference_config
from edgeship.services.config import DeploymentConfig
from edgeship.services.launch import DeployRequest, deploy
from edgeship.services.store import validate_service_name


def _project() -> Path | None:
    from edgeship.demo.run import find_project

    for start in (Path.cwd(), Path(__file__).resolve().parents[3]):
        try:
            return find_project(start)
        except Exception:
            continue
    return None


@click.command(name="deploy")
@click.option("--name", "-n", required=True, help="Service name (lower case, digits, '-').")
@click.option("--model", "-m", "model_ref", required=True, help="Registered model NAME[:VERSION].")
@click.option("--ic", "inference_config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="inferenceConfig.json (entryScript, runtime, condaFile); without it the ONNX scorer serves.")
@click.option("--dc", "deployment_config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help='deploymentConfig.json: {"computeType": "LOCAL"} (default) or {"computeType": "IOTEDGE"}.')
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port of the scoring URI.")
@click.option("--json", "as_json", is_flag=True, help='Print {"name", "state", "scoring_uri"}.')
@registry_option
def cli(name: str, model_ref: str, inference_config: Path | None, deployment_config: Path | None, port: int | None,
        as_json: bool, registry_root: Path | None) -> None:
    """Deploy a registered model as a local web service (or into the simulator)."""
    validate_service_name(name)
    inference = load_inference_config(inference_config) if inference_config else None
    deployment = load_deployment_config(deployment_config) if deployment_config else DeploymentConfig("LOCAL", None)
    home = resolve_registry_root(registry_root)
    record = deploy(DeployRequest(name, model_ref, inference, deployment, port, _project()), Registry.open(home),
                    ServiceStore(home))
    if as_json:
        click.echo(json.dumps({"name": record.name, "state": record.state, "scoring_uri": record.scoring_uri}))
    else:
        click.echo(record.state)
        click.echo(f"scoring URI: {record.scoring_uri}")
