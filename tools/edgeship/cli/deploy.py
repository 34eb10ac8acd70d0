"""`edgeship deploy`: the seed's `az ml model deploy` (v1 files) or `-f deployment.yml` (v2), on this machine."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgeship.cli._common import registry_option
from edgeship.errors import ConfigError
from edgeship.registry import Registry, resolve_registry_root
from edgeship.services import ServiceStore, load_deployment_config, load_inference_config
from edgeship.services.config import DeploymentConfig
from edgeship.services.launch import DeployRequest, deploy, deploy_online
from edgeship.services.online_deployment import load_online_deployment
from edgeship.services.store import validate_service_name


def _project() -> Path | None:
    from edgeship.errors import EdgeshipError
    from edgeship.project import find_project

    try:
        return find_project()
    except EdgeshipError:
        return None  # LOCAL needs none; IOTEDGE says so itself


@click.command(name="deploy")
@click.option(
    "--file",
    "-f",
    "online_deployment",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="An Azure ML v2 managed online deployment YAML (model.path, code_configuration, environment, "
    "environment_variables, request_settings); the service is named after endpoint_name.",
)
@click.option("--name", "-n", default=None, help="Service name (lower case, digits, '-').")
@click.option("--model", "-m", "model_ref", default=None, help="Registered model NAME[:VERSION].")
@click.option(
    "--ic",
    "inference_config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="inferenceConfig.json (entryScript, runtime, condaFile); without it the ONNX scorer serves.",
)
@click.option(
    "--dc",
    "deployment_config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='deploymentConfig.json: {"computeType": "LOCAL"} (default) or {"computeType": "IOTEDGE"}.',
)
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port of the scoring URI.")
@click.option("--json", "as_json", is_flag=True, help='Print {"name", "state", "scoring_uri"}.')
@registry_option
def cli(
    online_deployment: Path | None,
    name: str | None,
    model_ref: str | None,
    inference_config: Path | None,
    deployment_config: Path | None,
    port: int | None,
    as_json: bool,
    registry_root: Path | None,
) -> None:
    """Deploy a registered model as a local web service (or into the simulator), or a v2 deployment YAML."""
    home = resolve_registry_root(registry_root)
    if online_deployment is not None:
        if model_ref or inference_config or deployment_config:
            raise ConfigError("-f takes the model and code from the YAML: drop --model, --ic and --dc")
        record = deploy_online(load_online_deployment(online_deployment), ServiceStore(home), port, name)
    else:
        if not name or not model_ref:
            raise ConfigError("give --name and --model (v1: with --ic / --dc), or -f deployment.yml (v2)")
        validate_service_name(name)
        inference = load_inference_config(inference_config) if inference_config else None
        deployment = load_deployment_config(deployment_config) if deployment_config else DeploymentConfig("LOCAL", None)
        record = deploy(
            DeployRequest(name, model_ref, inference, deployment, port, _project()),
            Registry.open(home),
            ServiceStore(home),
        )
    if as_json:
        click.echo(json.dumps({"name": record.name, "state": record.state, "scoring_uri": record.scoring_uri}))
    else:
        click.echo(record.state)
        click.echo(f"scoring URI: {record.scoring_uri}")
