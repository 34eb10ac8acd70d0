"""The local model registry, like Azure ML's ``Model.register`` / ``az ml model register``.

registry = Registry.open()                      # --registry, $EDGESHIP_HOME or ./.edgeship
record = registry.register(Path("models"), "sentiment", tags={"stage": "dev"})
record.ref                                      # "sentiment:1"
registry.get("sentiment")                       # the latest version
registry.download("sentiment", 1, Path("out"))
"""

from edgeship.registry.names import parse_model_ref, parse_pairs, validate_name
from edgeship.registry.store import FileEntry, ModelRecord, Registry, resolve_registry_root

__all__ = [
    "FileEntry",
    "ModelRecord",
    "Registry",
    "parse_model_ref",
    "parse_pairs",
    "resolve_registry_root",
    "validate_name",
]
