"""The layered deployment examples of the IoT Edge docs, as test data (shared by the compose tests)."""

from __future__ import annotations

from typing import Any

SENSOR_IMAGE = "mcr.microsoft.com/azureiotedge-simulated-temperature-sensor:1.0"


def docs_base() -> dict[str, Any]:
    """The basic at-scale manifest of "Deploy and monitor IoT Edge modules at scale by using the Azure CLI"
    (how-to-deploy-cli-at-scale), with the target condition and priority the page's create command takes."""
    return {
        "id": "docs-base",
        "targetCondition": "tags.environment='prod'",
        "priority": 10,
        "content": {
            "modulesContent": {
                "$edgeAgent": {
                    "properties.desired": {
                        "schemaVersion": "1.1",
                        "runtime": {
                            "type": "docker",
                            "settings": {"minDockerVersion": "v1.25", "loggingOptions": "", "registryCredentials": {}},
                        },
                        "systemModules": {
                            "edgeAgent": {
                                "type": "docker",
                                "settings": {
                                    "image": "mcr.microsoft.com/azureiotedge-agent:1.6",
                                    "createOptions": "{}",
                                },
                            },
                            "edgeHub": {
                                "type": "docker",
                                "status": "running",
                                "restartPolicy": "always",
                                "settings": {"image": "mcr.microsoft.com/azureiotedge-hub:1.6", "createOptions": "{}"},
                            },
                        },
                        "modules": {
                            "SimulatedTemperatureSensor": {
                                "version": "1.1",
                                "type": "docker",
                                "status": "running",
                                "restartPolicy": "always",
                                "settings": {"image": SENSOR_IMAGE, "createOptions": "{}"},
                            }
                        },
                    }
                },
                "$edgeHub": {
                    "properties.desired": {
                        "schemaVersion": "1.0",
                        "routes": {"upstream": "FROM /messages/* INTO $upstream"},
                        "storeAndForwardConfiguration": {"timeToLiveSecs": 7200},
                    }
                },
                "SimulatedTemperatureSensor": {"properties.desired": {"SendData": True, "SendInterval": 5}},
            }
        },
    }


def docs_layer(
    module_twin: dict[str, Any],
    deployment_id: str = "docs-layer",
    priority: int = 20,
    condition: str = "tags.environment='prod'",
) -> dict[str, Any]:
    """The layered manifest of the same page (`--layered`), with a module twin section of our choice."""
    return {
        "id": deployment_id,
        "targetCondition": condition,
        "priority": priority,
        "content": {
            "modulesContent": {
                "$edgeAgent": {
                    "properties.desired.modules.SimulatedTemperatureSensor": {
                        "settings": {"image": SENSOR_IMAGE, "createOptions": "{}"},
                        "type": "docker",
                        "status": "running",
                        "restartPolicy": "always",
                        "version": "1.0",
                    }
                },
                "$edgeHub": {"properties.desired.routes.upstream": "FROM /messages/* INTO $upstream"},
                "SimulatedTemperatureSensor": module_twin,
            }
        },
    }
