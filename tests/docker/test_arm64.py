"""The arm64v8 sentiment image, built on this amd64 machine; under emulation it imports onnxruntime and scores."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from dockerkit import Registry, aarch64_emulation

pytestmark = [pytest.mark.docker, pytest.mark.integration]
TEXT = "what a wonderful morning, I love it"


@pytest.fixture(scope="module")
def emulation() -> None:
    # Opt-in: making the arm64 base runs every Debian package script under qemu, which took more
    # than 30 minutes on the shared 2-core machine (it never finished there), far over make test's
    # budget; this test has not passed yet. Run it with EDGESHIP_TEST_ARM64=1 on a quiet machine.
    if os.environ.get("EDGESHIP_TEST_ARM64") != "1":
        pytest.skip("the arm64v8 image test is opt-in (EDGESHIP_TEST_ARM64=1): its base takes 30+ min under emulation")
    # The RUN steps of an arm64 build (and mmdebstrap's package scripts) execute arm64 code.
    reason = aarch64_emulation()
    if reason is not None:
        pytest.skip(reason)


@pytest.mark.timeout(3600)  # the base (about 5 min) and the build's RUN steps execute arm64 code under qemu
def test_arm64v8_image_builds_on_amd64_and_scores_under_emulation(
        emulation: None, docker_client: Any, modules_copy: Path, registry: Registry, packaged_model_dir: Path) -> None:
    from edgeship.images.base import ensure_base
    from edgeship.images.build import build_image, read_module_json
    from edgeship.images.platforms import platform_named
    from edgeship_sentiment.model import load_model_folder
    from edgeship_sentiment.scorer import Scorer

    arm64 = platform_named("arm64v8")
    base, _ = ensure_base(docker_client, arm64)
    module = read_module_json(modules_copy / "sentiment", {"CONTAINER_REGISTRY_SERVER": registry.address})
    image = build_image(docker_client, module, arm64, base)
    print(f"\narm64v8 image {image.tag}: {image.size_bytes / 1e6:.0f} MB, built in {image.seconds:.0f} s")
    attrs = docker_client.images.get(image.tag).attrs
    assert (attrs["Os"], attrs["Architecture"]) == ("linux", "arm64")
    assert attrs["Config"]["User"] == "10001"
    script = ("import json, platform, sys; from pathlib import Path; import onnxruntime; "
              "from edgeship_sentiment.model import load_model_folder; from edgeship_sentiment.scorer import Scorer; "
              "result = Scorer(load_model_folder(Path('/app/model'))).score(sys.argv[1]); "
              "print(json.dumps({'machine': platform.machine(), 'ort': onnxruntime.__version__, **result}))")
    import json

    out = docker_client.containers.run(image.tag, ["python", "-c", script, TEXT], remove=True, network_mode="none",
                                       platform="linux/arm64").decode()
    report = json.loads(out.strip().splitlines()[-1])
    expected = Scorer(load_model_folder(packaged_model_dir)).score(TEXT)
    assert report["machine"] == "aarch64"
    assert report["ort"] == "1.32.0"
    assert report["label"] == expected["label"]
    assert report["score"] == pytest.approx(expected["score"], abs=1e-5)
