"""The one exception tree of the ``edgeship`` package.

Every error a user can cause (bad input, a missing file, a failed parity gate) is an
``EdgeshipError``; the CLI prints it as ``error: <message>`` and exits 1. Anything else is a bug
and keeps its traceback.

    EdgeshipError
    ├── ConfigError            bad settings, flags or environment
    ├── RegistryError          the model registry
    │   ├── InvalidNameError       a model name or version that is not allowed
    │   ├── ModelNotFoundError     no such name or version
    │   └── UnsafePathError        a path that escapes its folder
    ├── PackagingError         turning a registered model into an edge module's model folder
    │   ├── UnsafePickleError      a pickle that names a global we do not allow
    │   ├── UnsupportedModelError  a layer or architecture a converter cannot handle
    │   └── ParityError            the converted model disagrees with the original
    ├── ManifestError          generating or validating a deployment manifest
    ├── SimulatorClientError   talking to a running simulator from the CLI
    ├── PublishError           publishing or serving model archives for devices
    ├── DeployError            local services started by ``edgeship deploy``
    └── ImageError             building, pushing or pulling module images (Docker engine, registry)
"""

from __future__ import annotations


class EdgeshipError(Exception):
    """Base of every error a user can cause; the message is one line meant for a person."""


class ConfigError(EdgeshipError):
    """Bad settings, flags or environment."""


class RegistryError(EdgeshipError):
    """The model registry refused or could not do what was asked."""


class InvalidNameError(RegistryError):
    """A model name or version that is not allowed."""


class ModelNotFoundError(RegistryError):
    """No model with that name or version."""


class UnsafePathError(RegistryError):
    """A path that escapes the folder it must stay in."""


class PackagingError(EdgeshipError):
    """Turning a registered model into an edge module's model folder failed."""


class UnsafePickleError(PackagingError):
    """A pickle names a global outside the allow-list; nothing in it was run."""


class UnsupportedModelError(PackagingError):
    """The model has a layer or shape a converter cannot handle."""


class ParityError(PackagingError):
    """The converted model does not match the original within the gate's bounds."""


class ManifestError(EdgeshipError):
    """A deployment template or manifest is invalid."""


class SimulatorClientError(EdgeshipError):
    """The CLI could not reach or use a running simulator."""


class DeployError(EdgeshipError):
    """A local service could not be started, found or stopped."""


class PublishError(EdgeshipError):
    """Publishing a packaged model as an archive, or serving published archives, failed."""


class ImageError(EdgeshipError):
    """A module image could not be built, tagged or pushed (engine, base image, wheelhouse, registry)."""
