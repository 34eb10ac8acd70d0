"""Pickles of classes whose library is not installed (Keras', scikit-learn's), for the safe-unpickler tests."""

from __future__ import annotations

import sys
import types

import pytest


def fake_class(module: str, name: str, monkeypatch: pytest.MonkeyPatch) -> type:
    """A class that pickles under ``module.name``, as Keras' and scikit-learn's do."""
    fake_module = types.ModuleType(module)
    cls = type(name, (), {"__module__": module})
    fake_module.__dict__[name] = cls
    parts = module.split(".")
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        monkeypatch.setitem(sys.modules, parent, sys.modules.get(parent, types.ModuleType(parent)))
    monkeypatch.setitem(sys.modules, module, fake_module)
    return cls
