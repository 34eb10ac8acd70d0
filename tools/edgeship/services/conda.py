"""Check a conda environment file against what this Python can import, before anything starts.

Azure ML builds an image from the conda file; locally we run in the current environment, so a
package the script needs and that is missing must be named up front, not as an ImportError in
the service's log a minute later.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from edgeship.errors import ConfigError

# Distribution name -> import name, where they differ.
IMPORT_NAMES = {
    "scikit-learn": "sklearn",
    "pyyaml": "yaml",
    "tensorflow-cpu": "tensorflow",
    "tf-keras": "tf_keras",
    "opencv-python": "cv2",
    "pillow": "PIL",
    "onnxruntime-gpu": "onnxruntime",
    "azure-iot-device": "azure.iot.device",
    "paho-mqtt": "paho.mqtt",
    "python-dateutil": "dateutil",
    "beautifulsoup4": "bs4",
}
# The serving harness Azure ML needs; edgeship is that harness here, so these are provided.
PROVIDED = {"python", "pip", "azureml-defaults", "azureml-core", "azureml-inference-server-http", "inference-schema"}


@dataclass(frozen=True)
class Requirement:
    name: str
    source: str  # "conda" or "pip"

    @property
    def import_name(self) -> str:
        key = self.name.lower()
        return IMPORT_NAMES.get(key, key.replace("-", "_"))


def _bare_name(spec: str) -> str:
    # "tensorflow==2.1", "numpy>=1.18", "conda-forge::gensim=3.8", "keras [tf]"
    spec = spec.split("::")[-1].strip()
    match = re.match(r"[A-Za-z0-9_.\-]+", spec)
    return match.group(0) if match else spec


def read_requirements(path: Path) -> list[Requirement]:
    try:
        data: object = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read conda file {path}: {str(exc).splitlines()[0]}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("dependencies", []), list):
        raise ConfigError(f"conda file {path} must be a mapping with a 'dependencies' list")
    requirements: list[Requirement] = []
    for item in data.get("dependencies", []):
        if isinstance(item, str):
            requirements.append(Requirement(_bare_name(item), "conda"))
        elif isinstance(item, dict) and isinstance(item.get("pip"), list):
            requirements.extend(Requirement(_bare_name(str(p)), "pip") for p in item["pip"])
        else:
            raise ConfigError(f"conda file {path}: cannot read dependency {item!r}")
    return requirements


def missing_requirements(requirements: list[Requirement]) -> list[Requirement]:
    missing = []
    for requirement in requirements:
        if requirement.name.lower() in PROVIDED or requirement.name.lower().startswith("azureml-"):
            continue
        try:
            found = importlib.util.find_spec(requirement.import_name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(requirement)
    return missing
