"""Keras model folder -> ONNX edge model folder (model.onnx, tokenizer.json, model.json), parity-gated."""

from edgeship.packager.pipeline import ModelSource, PackageOptions, PackageResult, package_model

__all__ = ["ModelSource", "PackageOptions", "PackageResult", "package_model"]
