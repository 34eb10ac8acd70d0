"""The arm64v8 sentiment image, built on this amd64 machine; under emulation it imports onnxruntime and scores."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from edgeship.images.build import BuiltImage
from tests.support.dockerkit import QEMU_FOR_ONNXRUNTIME, Registry, aarch64_emulation, qemu_aarch64_version

pytestmark = [pytest.mark.docker, pytest.mark.integration]
TEXT = "what a wonderful morning, I love it"


@pytest.fixture(scope="module")
def emulation() -> None:
    # The arm64 base runs every Debian package script under qemu (about 4 min here) and the build's
    # RUN steps too (about 2.5 min): 6.6 min from nothing, inside make test's budget. The base is
    # cached by tag, so a second run only builds.
    if os.environ.get("EDGESHIP_TEST_ARM64") == "0":
        pytest.skip("EDGESHIP_TEST_ARM64=0: the arm64v8 image tests are turned off")
    # The RUN steps of an arm64 build (and mmdebstrap's package scripts) execute arm64 code.
    reason = aarch64_emulation()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def arm64_image(emulation: None, docker_client: Any, modules_copy: Path, registry: Registry) -> BuiltImage:
    from edgeship.images.base import ensure_base
    from edgeship.images.build import build_image, read_module_json
    from edgeship.images.platforms import platform_named

    arm64 = platform_named("arm64v8")
    base, _ = ensure_base(docker_client, arm64)
    module = read_module_json(modules_copy / "sentiment", {"CONTAINER_REGISTRY_SERVER": registry.address})
    image = build_image(docker_client, module, arm64, base)
    print(f"\narm64v8 image {image.tag}: {image.size_bytes / 1e6:.0f} MB, built in {image.seconds:.0f} s")
    return image


@pytest.mark.timeout(3600)  # the base and the build's RUN steps execute arm64 code under qemu
def test_arm64v8_image_builds_on_amd64(docker_client: Any, arm64_image: BuiltImage) -> None:
    attrs = docker_client.images.get(arm64_image.tag).attrs
    base = docker_client.images.get("edgeship/python-standin:3.11-bookworm-arm64").attrs
    assert (base["Os"], base["Architecture"]) == ("linux", "arm64")  # the stand-in says what it is
    assert (attrs["Os"], attrs["Architecture"]) == ("linux", "arm64")
    assert attrs["Config"]["User"] == "10001"
    assert arm64_image.platform == "arm64v8"
    assert arm64_image.tag.endswith("-arm64v8")


@pytest.mark.timeout(900)
def test_arm64v8_image_scores_under_emulation(
    docker_client: Any, arm64_image: BuiltImage, packaged_model_dir: Path
) -> None:
    from edgeship_sentiment.model import load_model_folder
    from edgeship_sentiment.scorer import Scorer

    version = qemu_aarch64_version()
    if version is not None and version < QEMU_FOR_ONNXRUNTIME:
        # Checked: Debian bookworm's qemu-user 7.2 dies with SIGSEGV inside onnxruntime 1.32's import
        # (the device discovery onnxruntime runs since 1.29) and then hangs; bookworm-backports' 10.0
        # runs it. A real arm64 device is not affected: this is the emulator.
        pytest.skip(
            f"qemu-user {'.'.join(map(str, version))} crashes in onnxruntime's import; install "
            "qemu-user-static from bookworm-backports (10.0) to score under emulation"
        )
    script = (
        "import json, platform, sys; from pathlib import Path; import onnxruntime; "
        "from edgeship_sentiment.model import load_model_folder; from edgeship_sentiment.scorer import Scorer; "
        "result = Scorer(load_model_folder(Path('/app/model'))).score(sys.argv[1]); "
        "print(json.dumps({'machine': platform.machine(), 'ort': onnxruntime.__version__, **result}))"
    )
    out = docker_client.containers.run(
        arm64_image.tag, ["python", "-c", script, TEXT], remove=True, network_mode="none", platform="linux/arm64"
    ).decode()
    report = json.loads(out.strip().splitlines()[-1])
    expected = Scorer(load_model_folder(packaged_model_dir)).score(TEXT)
    assert report["machine"] == "aarch64"
    assert report["ort"] == "1.32.0"
    assert report["label"] == expected["label"]
    assert report["score"] == pytest.approx(expected["score"], abs=1e-5)
