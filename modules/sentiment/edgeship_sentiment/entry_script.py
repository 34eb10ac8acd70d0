"""Hosting an Azure ML entry script (``init()`` / ``run(raw)``) unmodified behind every face.

The script is imported from its file as Azure ML's inference server does, with
``AZUREML_MODEL_DIR`` set before ``init()`` runs. ``run`` receives the raw request body as a
string and its return value is the reply, JSON-encoded; scripts are not assumed to be
thread-safe, so calls are serialised.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from edgeship_sentiment.errors import ModelLoadError


class _KerasAlias(importlib.abc.MetaPathFinder):
    """Resolve ``keras`` / ``keras.*`` to ``tf_keras`` (Keras 2) for scripts written for Keras 2.

    Keras 3 cannot load Keras 2 h5 files, so an unmodified Azure ML script doing
    ``from keras.models import load_model`` only runs if ``keras`` means Keras 2. Enabled by
    ``KERAS_ALIAS=tf_keras`` (``edgeship deploy`` sets it when tf_keras is installed).
    """

    def __init__(self, target: str) -> None:
        self.target = target

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "keras" and not fullname.startswith("keras."):
            return None
        real_name = self.target + fullname[len("keras") :]
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real_name))


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, real_name: str) -> None:
        self.real_name = real_name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.real_name)

    def exec_module(self, module: ModuleType) -> None:
        """The real module is already executed."""


def install_keras_alias(target: str) -> None:
    if not any(isinstance(finder, _KerasAlias) for finder in sys.meta_path):
        sys.meta_path.insert(0, _KerasAlias(target))


class EntryScript:
    def __init__(self, path: Path, model_dir: Path | None) -> None:
        if not path.is_file():
            raise ModelLoadError(f"entry script {path} does not exist")
        self.path = path.resolve()
        self.model_dir = model_dir
        self._lock = threading.Lock()
        self._module: ModuleType | None = None
        self.wants_headers = False

    def load(self) -> EntryScript:
        alias = os.environ.get("KERAS_ALIAS")
        if alias:
            install_keras_alias(alias)
        if self.model_dir is not None:
            os.environ["AZUREML_MODEL_DIR"] = str(self.model_dir)
        os.environ["AZUREML_ENTRY_SCRIPT"] = str(self.path)  # as azmlinfsrv sets it (the real path)
        # Scripts import their neighbours (helpers next to score.py), as on Azure ML.
        sys.path.insert(0, str(self.path.parent))
        spec = importlib.util.spec_from_file_location(f"entry_script_{self.path.stem}", self.path)
        if spec is None or spec.loader is None:
            raise ModelLoadError(f"cannot import entry script {self.path}")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's code may raise anything at import
            why = f"{type(exc).__name__}: {exc}"
            raise ModelLoadError(f"entry script {self.path.name} failed to import: {why}") from exc
        for name in ("init", "run"):
            if not callable(getattr(module, name, None)):
                raise ModelLoadError(f"entry script {self.path.name} has no {name}() function")
        try:
            # azmlinfsrv passes the request's headers to a run() that names a request_headers parameter.
            self.wants_headers = "request_headers" in inspect.signature(module.run).parameters
        except (TypeError, ValueError):
            self.wants_headers = False
        try:
            module.init()
        except Exception as exc:  # the user's init() may raise anything; the module stops with one line
            raise ModelLoadError(f"entry script {self.path.name}: init() failed: {type(exc).__name__}: {exc}") from exc
        self._module = module
        return self

    def run(self, raw: str) -> object:
        return self.call(raw, {})

    def call(self, raw: str, headers: dict[str, str]) -> object:
        """``run(raw)``, or ``run(raw, request_headers=...)`` where the script asks for them."""
        if self._module is None:
            raise ModelLoadError("entry script not loaded")
        with self._lock:
            if self.wants_headers:
                return self._module.run(raw, request_headers=headers)
            return self._module.run(raw)
