"""The applied model on disk: ``<root>/models/<sha256>/`` and ``<root>/current.json`` naming it.

``current.json`` is replaced by rename, so a module killed mid-update restarts with either the
old or the new model, never half of one. The folder of the model before it is kept too (a
rollback downloads again, but a crash between the two writes still finds a whole folder).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from edgeship_sentiment.errors import ModelUpdateError
from edgeship_sentiment.model_update.desired import DesiredModel, parse_desired_model

log = logging.getLogger("edgeship_sentiment.model_update")
CURRENT = "current.json"


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.models = root / "models"

    @classmethod
    def from_environment(cls, default: Path) -> ModelStore:
        """``MODEL_STORE`` (the image should mount a writable volume there), else ``default``."""
        return cls(Path(os.environ.get("MODEL_STORE") or default))

    def staging(self) -> Path:
        """A fresh private folder for one download, on the same file system as the models."""
        import tempfile

        try:
            self.models.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.root))
        except OSError as exc:
            raise ModelUpdateError(f"the model store {self.root} is not writable: {exc.strerror or exc}") from None

    def folder(self, sha256: str) -> Path:
        return self.models / sha256

    def install(self, unpacked: Path, desired: DesiredModel) -> Path:
        """Move ``unpacked`` to its content-addressed place (replacing a stale copy)."""
        target = self.folder(desired.sha256)
        if target.exists():
            shutil.rmtree(target)
        unpacked.rename(target)
        return target

    def commit(self, desired: DesiredModel, previous: DesiredModel | None) -> None:
        temporary = self.root / (CURRENT + ".tmp")
        temporary.write_text(json.dumps(desired.to_json()) + "\n", encoding="utf-8")
        os.replace(temporary, self.root / CURRENT)
        keep = {desired.sha256} | ({previous.sha256} if previous else set())
        for folder in self.models.iterdir():
            if folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)

    def current(self) -> tuple[DesiredModel, Path] | None:
        """The last applied model and its folder, or None (then the image's baked-in model serves)."""
        path = self.root / CURRENT
        if not path.is_file():
            return None
        try:
            desired = parse_desired_model(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, ModelUpdateError) as exc:
            log.warning("ignoring %s: %s", path, exc)
            return None
        return desired, self.folder(desired.sha256)
