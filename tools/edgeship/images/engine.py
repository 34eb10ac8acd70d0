"""Reaching a Docker engine through the docker SDK, with one-line errors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeship.errors import EdgeshipError

if TYPE_CHECKING:
    from docker import DockerClient


def first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


def connect() -> DockerClient:
    """A ``docker.DockerClient`` for DOCKER_HOST (or the default socket) that answered a ping."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except DockerException as exc:
        raise EdgeshipError(
            f"no Docker engine is reachable ({first_line(exc, 120)}); 'edgeship build' needs one, "
            "while 'edgeship sim' runs modules as processes without it"
        ) from None
    return client
