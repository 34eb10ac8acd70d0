"""The twin's desired ``model``: ``{"name", "version", "sha256", "uri"}``, checked before anything runs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from edgeship_sentiment.errors import ModelUpdateError
from edgeship_sentiment.jsontypes import DesiredModelJSON

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
SCHEMES = ("file", "http", "https")


@dataclass(frozen=True)
class DesiredModel:
    name: str
    version: int
    sha256: str
    uri: str

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_json(self) -> DesiredModelJSON:
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "uri": self.uri}


def parse_desired_model(value: object) -> DesiredModel:
    if not isinstance(value, dict):
        raise ModelUpdateError('model must be {"name", "version", "sha256", "uri"}')
    name, version, sha256, uri = (value.get(key) for key in ("name", "version", "sha256", "uri"))
    if not isinstance(name, str) or not NAME.match(name) or ".." in name:
        raise ModelUpdateError(f"model.name {name!r} is not a model name")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelUpdateError(f"model.version must be a positive integer, got {version!r}")
    if not isinstance(sha256, str) or not SHA256.match(sha256.lower()):
        raise ModelUpdateError("model.sha256 must be 64 hex digits")
    if not isinstance(uri, str) or urlsplit(uri).scheme not in SCHEMES:
        raise ModelUpdateError(f"model.uri must be file://, http:// or https://, got {uri!r}")
    return DesiredModel(name, version, sha256.lower(), uri)
