"""The edgeship checkout as one project: finding it, packaging a registered model into it, and
writing its local deployment manifest.

``edgeship demo``, ``edgeship deploy`` (IOTEDGE), ``edgeship bench`` and the local services all
act on a project (``modules/`` and ``manifests/``); they do it through here so the three steps
are written once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from edgeship.errors import EdgeshipError

if TYPE_CHECKING:  # imported when used: the CLI finds a project without loading numpy or the manifest code
    from edgeship.manifest import Generated
    from edgeship.packager import PackageOptions, PackageResult
    from edgeship.registry import ModelRecord, Registry

REPO_MARKERS = ("modules/sentiment/module.json", "manifests/deployment.template.json")
TEMPLATE = Path("manifests") / "deployment.template.json"
LOCAL_PLATFORM = "amd64"
# This file's checkout (tools/edgeship/project.py): the project of an editable install run elsewhere.
_OWN_CHECKOUT = Path(__file__).resolve().parents[2]


def find_project(*starts: Path) -> Path:
    """The first folder at or above one of ``starts`` (default: the working folder, then this
    package's own checkout) that holds ``modules/`` and ``manifests/``."""
    for start in starts or (Path.cwd(), _OWN_CHECKOUT):
        for candidate in (start, *start.parents):
            if all((candidate / marker).is_file() for marker in REPO_MARKERS):
                return candidate
    raise EdgeshipError("run this inside an edgeship checkout (modules/ and manifests/ not found)")


def sentiment_model_dir(project: Path) -> Path:
    """Where the sentiment module reads its packaged model (``MODEL_DIR``'s default in the manifest)."""
    return project / "modules" / "sentiment" / "model"


def package_registered(
    registry: Registry,
    record: ModelRecord,
    out_dir: Path,
    options: PackageOptions | None = None,
    step: Callable[[str], None] = lambda _: None,
) -> PackageResult:
    """Package a registered model into ``out_dir`` behind the parity gate (the previous folder stays on failure)."""
    from edgeship.packager import ModelSource, PackageOptions, package_model

    with registry.linked_files(record) as files:
        source = ModelSource(files, record.name, record.version, record.sha256)
        return package_model(source, out_dir, options or PackageOptions(), step)


def write_local_manifest(project: Path, out_path: Path, http_bind: str) -> Generated:
    """The project's template for amd64, the sentiment module's HTTP face on ``http_bind``, validated,
    written to ``out_path``."""
    from edgeship.manifest import GenerateOptions, generate

    generated = generate(
        GenerateOptions(project / TEMPLATE, LOCAL_PLATFORM, environ={**os.environ, "SENTIMENT_HTTP_BIND": http_bind})
    )
    out_path.write_text(json.dumps(generated.manifest, indent=2) + "\n", encoding="utf-8")
    return generated
