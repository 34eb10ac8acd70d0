"""Pushing images to the registry their tag names, with the credentials iotedgedev keeps in ``.env``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgeship.errors import ImageError
from edgeship.images.engine import first_line

if TYPE_CHECKING:
    from docker import DockerClient


@dataclass(frozen=True)
class RegistryCredentials:
    server: str
    username: str
    password: str

    @classmethod
    def from_variables(
        cls,
        variables: Mapping[str, str],
        server: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> RegistryCredentials:
        """Flags win over ``CONTAINER_REGISTRY_SERVER`` / ``_USERNAME`` / ``_PASSWORD``."""
        return cls(
            server if server is not None else variables.get("CONTAINER_REGISTRY_SERVER", ""),
            username if username is not None else variables.get("CONTAINER_REGISTRY_USERNAME", ""),
            password if password is not None else variables.get("CONTAINER_REGISTRY_PASSWORD", ""),
        )


def registry_of(tag: str) -> str:
    """Docker's rule: the first path component is a registry when it has a '.', a ':' or is localhost."""
    first, sep, _ = tag.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def push_image(client: DockerClient, tag: str, credentials: RegistryCredentials) -> str:
    """Push ``tag``; returns the pushed digest. Logs in first when a user name is given."""
    from docker.errors import APIError, ImageNotFound

    registry = registry_of(tag)
    if credentials.server and credentials.server != registry:
        raise ImageError(f"{tag} names registry {registry}, but the credentials are for {credentials.server}")
    repository, _, version = tag.rpartition(":")
    if "/" in version or not repository:
        raise ImageError(f"{tag} has no tag after the repository (expected REPOSITORY:TAG)")
    auth = None
    try:
        client.images.get(tag)
        if credentials.username:
            auth = {"username": credentials.username, "password": credentials.password}
            client.login(username=credentials.username, password=credentials.password, registry=registry, reauth=True)
        digest = ""
        for chunk in client.api.push(repository, tag=version, auth_config=auth, stream=True, decode=True):
            if "error" in chunk:
                raise ImageError(f"pushing {tag} failed: {str(chunk['error']).strip()[:300]}")
            digest = str(chunk.get("aux", {}).get("Digest", digest))
    except ImageNotFound:
        raise ImageError(f"no local image {tag} (build it first: edgeship build)") from None
    except APIError as exc:
        raise ImageError(f"pushing {tag} to {registry} failed: {first_line(exc)}") from None
    return digest
