"""Local web services started by ``edgeship deploy`` (the seed's ``az ml model deploy`` flow)."""

from edgeship.services.config import DeploymentConfig, InferenceConfig, load_deployment_config, load_inference_config
from edgeship.services.store import ServiceRecord, ServiceStore

__all__ = [
    "DeploymentConfig",
    "InferenceConfig",
    "ServiceRecord",
    "ServiceStore",
    "load_deployment_config",
    "load_inference_config",
]
