"""The packaged model folder (``model.onnx``, ``tokenizer.json``, ``model.json``), loaded and checked.

``model.json`` is ``model_spec.ModelSpec``'s (its one owner, for writing and reading); here the
folder's files are checked against it so a broken folder fails at start with one clear line.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from edgeship_sentiment.errors import ModelLoadError
from edgeship_sentiment.model_spec import ModelSpec
from edgeship_sentiment.tokenizer import KerasTokenizer


def resolve_model_dir(explicit: Path | None = None) -> Path:
    """``--model-dir``, else ``$MODEL_DIR``, else ``$AZUREML_MODEL_DIR/models`` (Azure ML), else ``./model``."""
    if explicit is not None:
        return explicit
    if os.environ.get("MODEL_DIR"):
        return Path(os.environ["MODEL_DIR"])
    if os.environ.get("AZUREML_MODEL_DIR"):
        return Path(os.environ["AZUREML_MODEL_DIR"]) / "models"
    return Path("model")


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    spec: ModelSpec
    tokenizer: KerasTokenizer
    onnx_path: Path

    @property
    def identity(self) -> str:
        return self.spec.source or self.spec.name


def load_model_folder(path: Path, *, verify_sha256: bool = True) -> ModelFolder:
    if not path.is_dir():
        raise ModelLoadError(f"model folder {path} does not exist")
    spec = ModelSpec.read(path / "model.json")
    onnx_path = path / spec.onnx_file
    if not onnx_path.is_file():
        raise ModelLoadError(f"{onnx_path} does not exist")
    if verify_sha256 and spec.onnx_sha256:
        digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
        if digest != spec.onnx_sha256:
            raise ModelLoadError(f"{onnx_path} does not match the sha256 in model.json (a partial copy?)")
    tokenizer = KerasTokenizer.load(path / spec.tokenizer_file)
    return ModelFolder(path, spec, tokenizer, onnx_path)
