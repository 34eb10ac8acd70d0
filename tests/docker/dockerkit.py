"""Helpers for the docker tests: a free loopback port, the registry's address, polling the engine."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import requests

T = TypeVar("T")
USER, PASSWORD = "edgeship", "s3cret-pass"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Registry:
    address: str  # 127.0.0.1:PORT
    port: int
    username: str
    password: str

    def env_file(self, folder: Path, password: str | None = None) -> Path:
        path = folder / ".env"
        path.write_text(f"CONTAINER_REGISTRY_SERVER={self.address}\nCONTAINER_REGISTRY_USERNAME={self.username}\n"
                        f"CONTAINER_REGISTRY_PASSWORD={password or self.password}\n", encoding="utf-8")
        return path

    def tags(self, repository: str) -> list[str]:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        answer = requests.get(f"http://{self.address}/v2/{repository}/tags/list",
                              headers={"Authorization": f"Basic {token}"}, timeout=10)
        if answer.status_code == 404:
            return []
        answer.raise_for_status()
        return list(answer.json().get("tags") or [])


def wait_until(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    """Poll a condition on the engine (it has no event for it) until it holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
