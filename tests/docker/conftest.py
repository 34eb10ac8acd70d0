"""The real engine, the real registry and the real images, each made once per test session.

Every test here needs a Docker engine (``make test`` starts a private one as root, see
tools/ci/docker-engine.sh); without one they skip with the reason. Images are built from the
repository's Dockerfiles on the stand-in base (cached by tag), from copies of the module folders
so the checkout stays clean.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from edgeship.images.build import BuiltImage
from tests.support.dockerkit import PASSWORD, USER, Registry
from tests.support.ports import free_port


@pytest.fixture(scope="session")
def docker_client() -> Any:
    try:
        import docker

        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the engine means: skip with its reason
        pytest.skip(
            f"no Docker engine reachable ({str(exc).splitlines()[0][:120] if str(exc) else exc!r}); "
            "make test starts a private one when run as root"
        )
    return client


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Debian's docker-registry (distribution) on loopback with htpasswd authentication."""
    binary, htpasswd = shutil.which("docker-registry"), shutil.which("htpasswd")
    if binary is None or htpasswd is None:
        pytest.skip("docker-registry and htpasswd are not installed (apt-get install docker-registry apache2-utils)")
    folder = tmp_path_factory.mktemp("registry")
    users = subprocess.run([htpasswd, "-Bbn", USER, PASSWORD], capture_output=True, text=True, check=True).stdout
    (folder / "htpasswd").write_text(users, encoding="utf-8")
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(folder / "data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
        "auth": {"htpasswd": {"realm": "edgeship-test", "path": str(folder / "htpasswd")}},
    }
    (folder / "config.yml").write_text(json.dumps(config), encoding="utf-8")  # YAML reads JSON
    with open(folder / "registry.log", "wb") as log:
        process = subprocess.Popen([binary, "serve", str(folder / "config.yml")], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:  # ready when /v2/ asks for credentials
            try:
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 401:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not start: {(folder / 'registry.log').read_text()[-500:]}")
            time.sleep(0.1)
        yield Registry(f"127.0.0.1:{port}", port, USER, PASSWORD)
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="session")
def modules_copy(tmp_path_factory: pytest.TempPathFactory, repo_root: Path, packaged_model_dir: Path) -> Path:
    """modules/sentiment and modules/tweetsource copied, the packaged test model in sentiment/model."""
    root = tmp_path_factory.mktemp("modules")
    for name in ("sentiment", "tweetsource"):
        shutil.copytree(
            repo_root / "modules" / name,
            root / name,
            ignore=shutil.ignore_patterns("model", ".wheelhouse", "__pycache__", "capture"),
        )
    shutil.copytree(packaged_model_dir, root / "sentiment" / "model")
    return root


@pytest.fixture(scope="session")
def standin_amd64(docker_client: Any) -> str:
    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed (apt-get install mmdebstrap)")
    from edgeship.images.base import ensure_base
    from edgeship.images.platforms import platform_named

    return ensure_base(docker_client, platform_named("amd64"))[0]


def _build(client: Any, folder: Path, platform: str, base: str, registry: Registry) -> BuiltImage:
    from edgeship.images.build import build_image, read_module_json
    from edgeship.images.platforms import platform_named

    module = read_module_json(folder, {"CONTAINER_REGISTRY_SERVER": registry.address})
    return build_image(client, module, platform_named(platform), base)


@pytest.fixture(scope="session")
def sentiment_amd64(
    docker_client: Any,
    modules_copy: Path,
    standin_amd64: str,
    registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> BuiltImage:
    """Built once, by the CLI (`edgeship build --json`), which picks the stand-in base by itself."""
    import sys

    env_file = registry.env_file(tmp_path_factory.mktemp("build-env"))
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeship",
            "build",
            "--module-dir",
            str(modules_copy / "sentiment"),
            "--platform",
            "amd64",
            "--json",
            "--env",
            str(env_file),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )  # the registry comes from the .env only
    assert result.returncode == 0, result.stderr[-2000:]
    (image,) = json.loads(result.stdout)["images"]
    return BuiltImage(image["platform"], image["tag"], image["size_bytes"], time.perf_counter() - started)


@pytest.fixture(scope="session")
def tweetsource_amd64(docker_client: Any, modules_copy: Path, standin_amd64: str, registry: Registry) -> BuiltImage:
    return _build(docker_client, modules_copy / "tweetsource", "amd64", standin_amd64, registry)
